// Command md-mx-ctrl talks to the multiplexor's control socket. It is an
// output-compatible replacement of MIMEDefang's md-mx-ctrl:
//
//	md-mx-ctrl [-h] [-s path] [-i] [command [args...]]
//
// Long forms: --help, --socket path (or --socket=path), --interactive.
// The work is done by package mxctrl; see its documentation.
package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/mdgo/md/multiplexor/internal/mxctrl"
)

func main() {
	status := 0
	cmd := &cobra.Command{
		Use:   "md-mx-ctrl [-h] [-s path] [-i] [command [args...]]",
		Short: "Control mimedefang-multiplexor",
		Long: "md-mx-ctrl sends one command to the multiplexor's control socket\n" +
			"(default " + mxctrl.DefaultSocket + ") and prints the reply;\n" +
			"with -i it reads one command per line from standard input.",
		// The original's options are parsed by getopt, whose argument
		// permutation, clustering and diagnostics scripts may rely on, so
		// mxctrl parses them; cobra only hands over the arguments.
		DisableFlagParsing: true,
		SilenceErrors:      true,
		SilenceUsage:       true,
		CompletionOptions:  cobra.CompletionOptions{DisableDefaultCmd: true},
		Args:               cobra.ArbitraryArgs,
		Run: func(_ *cobra.Command, args []string) {
			// Drop the "--" added below.
			status = mxctrl.ForProcess().Main(append([]string{os.Args[0]}, args[1:]...))
		},
	}
	// A leading "--" keeps cobra from taking a first argument such as
	// "__complete" for its own hidden subcommand.
	cmd.SetArgs(append([]string{"--"}, os.Args[1:]...))
	if err := cmd.Execute(); err != nil {
		os.Stderr.WriteString("md-mx-ctrl: " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Exit(status)
}

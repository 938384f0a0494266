package daemon

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// CLI is what the daemons' command lines have in common: options with the
// original's letters, no positional arguments, --version, and usage errors
// that name the program and point at --help.
type CLI struct {
	Name    string // the program, for error messages: md-milterd
	Use     string
	Short   string
	Long    string
	Example string
	// Version is the line --version prints (without its newline).
	Version string
	// Run runs the daemon once the options are parsed and returns its exit
	// code.
	Run func(c *cobra.Command) int
}

// Main parses args into the flags that define adds to the command and runs
// the daemon, returning its exit code: Run's, 0 for --help and --version,
// 1 for a usage error (written to stderr with a hint).
func (d CLI) Main(args []string, stdout, stderr io.Writer, define func(f *pflag.FlagSet)) int {
	code := 0
	version := false
	cmd := &cobra.Command{
		Use:                   d.Use,
		Short:                 d.Short,
		Long:                  d.Long,
		Example:               d.Example,
		Args:                  cobra.NoArgs,
		DisableFlagsInUseLine: true,
		SilenceUsage:          true,
		SilenceErrors:         true,
		RunE: func(c *cobra.Command, _ []string) error {
			if version {
				fmt.Fprintln(stdout, d.Version)
				return nil
			}
			code = d.Run(c)
			return nil
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	define(f)
	f.BoolVarP(&version, "version", "v", false, "print the version and exit")
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	if err := cmd.Execute(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for the options.\n", d.Name, err, d.Name)
		return 1
	}
	return code
}

package mxctrl_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/mdgo/md/multiplexor/internal/mxctrl"
)

// The words of a command line are percent-encoded one by one, so a quoted
// "load1 60" is not the load1 command.
func ExampleBuildCommand() {
	fmt.Printf("%q\n", mxctrl.BuildCommand([]string{"load1", "60"}))
	fmt.Printf("%q\n", mxctrl.BuildCommand([]string{"load1 60"}))
	// Output:
	// "load1 60\n"
	// "load1%2060\n"
}

// barstatus draws busy workers and queued requests.
func ExampleFormatBarStatus() {
	fmt.Print(mxctrl.FormatBarStatus("BBBIISSS 87 8 64 3 6\n").Stdout)
	// Output:
	//   3/8 BBB.....    3/64 Q................... 87
}

// A Controller with its transport replaced by a table, as in a test.
func ExampleController() {
	c := &mxctrl.Controller{
		Stdin:  strings.NewReader(""),
		Stdout: os.Stdout,
		Stderr: os.Stdout,
		Exchange: func(socket, request string, limit int) (string, error) {
			return map[string]string{"status\n": "IBS 5 2 0 0 9\n"}[request], nil
		},
	}
	rc := c.Main([]string{"md-mx-ctrl", "-s", "/run/mx.sock", "status"})
	fmt.Println("exit", rc)
	// Output:
	// Max workers: 3
	// Worker 0: idle
	// Worker 1: busy
	// Worker 2: stopped
	// exit 0
}

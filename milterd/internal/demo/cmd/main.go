// Command cmd is `make demo`: three sample messages (plain text, an .exe
// attachment, a zip holding an .exe) through the milter that `make run`
// started, printing what the milter did to each.
//
//	go run ./milterd/internal/demo/cmd -socket var/sock/milter.sock [-json] [-count N] [-pause]
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/mdgo/md/milterd/internal/demo"
)

func main() {
	sock := flag.String("socket", "var/sock/milter.sock", "the milter socket: a path, unix:/path or inet:port@host")
	asJSON := flag.Bool("json", false, "print the results as JSON")
	count := flag.Int("count", 0, "send only the first N sample messages (0: all)")
	pause := flag.Bool("pause", false, "before the end of each message, wait for a line on standard input:\nstop make run meanwhile (Ctrl-C) to see that a message in flight is still answered")
	flag.Parse()

	network, address := "unix", strings.TrimPrefix(strings.TrimPrefix(*sock, "unix:"), "local:")
	if rest, ok := strings.CutPrefix(*sock, "inet:"); ok {
		port, host, _ := strings.Cut(rest, "@")
		if host == "" {
			host = "127.0.0.1"
		}
		network, address = "tcp", net.JoinHostPort(host, port)
	}
	where := demo.Describe(network, address)
	conn, err := net.DialTimeout(network, address, 5*time.Second)
	if err != nil {
		fmt.Fprintf(os.Stderr, "make demo: no milter answers on %s (%v).\nStart one with `make run` in another terminal (with the same RUNDIR), then run make demo again.\n", where, err)
		os.Exit(1)
	}
	conn.Close()

	client := demo.NewClient(network, address)
	samples := demo.Samples()
	if *count > 0 && *count < len(samples) {
		samples = samples[:*count]
	}
	var results []*demo.Result
	if !*asJSON {
		fmt.Printf("Sending %d messages through the milter on %s, from alice@example.org to bob@example.com:\n\n", len(samples), where)
	}
	stdin := bufio.NewReader(os.Stdin)
	for i, m := range samples {
		var beforeEnd func()
		if *pause {
			beforeEnd = func() {
				fmt.Fprintf(os.Stderr, "make demo: %s: body sent, end of message held; press Enter to send it\n", m.Name)
				stdin.ReadString('\n')
			}
		}
		r, err := demo.SendPausing(client, i+1, m, beforeEnd)
		if err != nil {
			msg := err.Error()
			if errors.Is(err, demo.ErrNotRunning) {
				msg += "\nIs `make run` still running?"
			}
			fmt.Fprintf(os.Stderr, "make demo: %s: %s\n", m.Name, msg)
			os.Exit(1)
		}
		results = append(results, r)
		if !*asJSON {
			demo.Print(os.Stdout, i+1, r)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(results)
	}
}

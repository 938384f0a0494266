package mxctrl

import (
	"bufio"
	"fmt"
	"maps"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/mdgo/md/internal/golden"
)

// goldenDir holds the original's outputs of record and the multiplexor's
// raw replies: md-mx-ctrl/ of the repository's captures (testdata/golden).
func goldenDir(t testing.TB) string { return golden.Dir(t, "md-mx-ctrl") }

func readGolden(t *testing.T, name string) string { return golden.ReadMxCtrl(t, name) }

// goldenReplies is the fake multiplexor's table for a golden run: the raw
// replies behind the outputs of record. state is the suffix of a golden
// name ("busy", "after-load", "after-reread" or "").
func goldenReplies(t *testing.T, state string) map[string][]string {
	g := func(name string) []string { return []string{readGolden(t, name)} }
	r := map[string][]string{
		"status\n":              g("rawstatus.txt"),
		"load\n":                g("rawload.txt"),
		"load-relayok\n":        g("rawload-relayok.txt"),
		"load-senderok\n":       g("rawload-senderok.txt"),
		"load-recipok\n":        g("rawload-recipok.txt"),
		"hload\n":               g("rawhload.txt"),
		"hload-relayok\n":       g("rawhload-relayok.txt"),
		"hload-senderok\n":      g("rawhload-senderok.txt"),
		"hload-recipok\n":       g("rawhload-recipok.txt"),
		"load1 60\n":            g("rawload1_60.txt"),
		"load1 5\n":             {"error: Invalid 'back' amount (must be 10-600)\n"},
		"histo\n":               g("histo.txt"),
		"workers\n":             g("workers.txt"),
		"slaves\n":              g("slaves.txt"),
		"busyworkers\n":         {""},
		"busyslaves\n":          {""},
		"workerinfo 0\n":        g("workerinfo_0.txt"),
		"workerinfo 1\n":        g("workerinfo_1.txt"),
		"slaveinfo 0\n":         g("slaveinfo_0.txt"),
		"workerinfo 99\n":       g("workerinfo_99_out_of_range.txt"),
		"msgs\n":                g("msgs.txt"),
		"free\n":                g("free.txt"),
		"version\n":             g("raw/priv.version.txt"),
		"help\n":                g("raw/priv.help.txt"),
		"tick\n":                g("raw/priv.tick.txt"),
		"foo_no_such_command\n": g("foo_no_such_command.txt"),
		"ping\n":                g("ping_via_worker.txt"),
		"reread\n":              g("reread.txt"),
	}
	switch state {
	case "busy":
		r["status\n"] = g("rawstatus.busy.txt")
		r["workers\n"] = g("workers.busy.txt")
		r["busyworkers\n"] = g("busyworkers.busy.txt")
		r["workerinfo 0\n"] = g("workerinfo_0.busy.txt")
		r["load1 10\n"] = g("rawload1_10.busy.txt")
	case "after-load":
		r["histo\n"] = g("histo.after-load.txt")
		r["load\n"] = g("rawload.after-load.txt")
		r["msgs\n"] = g("msgs.after-load.txt")
	case "after-reread":
		r["status\n"] = g("rawstatus.after-reread.txt")
	}
	return r
}

// crossCase is one command line run by both binaries against the same fake
// multiplexor.
type crossCase struct {
	name  string
	args  []string // placeholders: {sock} {missing} {stale} {file} {dir} {long}
	stdin string
	env   []string
	// replies override the golden table; reset makes the server close
	// before answering.
	replies map[string][]string
	reset   bool
	state   string // golden table variant
	// golden, when set, is the output of record (stderr then stdout, as a
	// terminal shows them) and goldenRC its exit status.
	golden   string
	goldenRC int
	// mask, when set, is applied to both the output and the golden file
	// before they are compared (not to the comparison of the binaries).
	mask     func(string) string
	asUser   bool // run as an unprivileged user (the EACCES case)
	longSock bool // put the socket at a path of exactly 107 bytes
}

// TestCrossGoldenIndex runs every command line of the golden index.tsv with
// the original and with ours, against a fake multiplexor serving the replies
// of record, and requires identical stdout, stderr, exit status and request
// bytes, and output equal to the golden file.
func TestCrossGoldenIndex(t *testing.T) {
	f, err := os.Open(filepath.Join(goldenDir(t), "index.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []crossCase
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		cols := strings.SplitN(sc.Text(), "\t", 3)
		if len(cols) != 3 {
			t.Fatalf("index.tsv: bad line %q", sc.Text())
		}
		name, command := cols[0], strings.TrimPrefix(cols[2], "md-mx-ctrl ")
		rc, err := strconv.Atoi(cols[1])
		if err != nil {
			t.Fatalf("index.tsv: %v", err)
		}
		c := crossCase{name: name, args: []string{"-s", "{sock}"}, golden: name + ".txt", goldenRC: rc}
		if i := strings.IndexByte(name, '.'); i >= 0 {
			c.state = name[i+1:]
		}
		switch name {
		case "help":
			c.args = append(c.args, "-h")
		case "interactive_-i":
			c.args = append(c.args, "-i")
			c.stdin = "status\nrawstatus\nmsgs\nrawload\nworkers\n"
			// The fake serves the replies of the one-shot commands; the
			// session was taken a little later, so what counts whole
			// seconds may have moved on (README of the captures,
			// Recapturing). Both binaries still get the same replies and
			// must agree byte for byte.
			c.mask = golden.MaskSeconds
		case "unknown_cmd_via_worker":
			// The index lost the quotes: the last word is one argument.
			c.args = append(c.args, "NoSuchCommand", "arg1", "arg with space")
		default:
			c.args = append(c.args, strings.Fields(command)...)
		}
		if name == "barstatus.busy" {
			c.replies = map[string][]string{"status\n": {golden.BarStatusBusyReply(t)}}
		}
		cases = append(cases, c)
	}
	if len(cases) < 50 {
		t.Fatalf("index.tsv lists only %d command lines", len(cases))
	}
	runCross(t, cases)
}

// TestCrossEdges compares both binaries on what the golden run did not
// exercise: odd and malformed replies, option parsing, socket errors, -i.
func TestCrossEdges(t *testing.T) {
	one := func(kv ...string) map[string][]string {
		m := map[string][]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = append(m[kv[i]], kv[i+1])
		}
		return m
	}
	big := strings.Repeat("x", 300000) + "\n"
	wide := strings.Repeat("I", 5000) + " 1 2 3 4 5\n"

	// Every (busy, total) bar up to 60 workers and (queued, size) queue bar
	// up to 50 slots, through one -i run: the bars are scaled in float.
	var bars []string
	var barInput strings.Builder
	for total, q := 1, 0; total <= 60; total++ {
		for busy := 0; busy <= total; busy++ {
			size := q%50 + 1
			queued := (q / 50) % (size + 1)
			q++
			bars = append(bars, fmt.Sprintf("%s%s %d 3 %d %d 9\n",
				strings.Repeat("B", busy), strings.Repeat("I", total-busy), q, size, queued))
			barInput.WriteString("barstatus\n")
		}
	}

	// Unusual but complete numeric replies through every parser, in one -i
	// run. Replies that leave fields unparsed are run one per process
	// below: the original prints its uninitialised variables for them,
	// which hold 0 in a fresh process but a previous command's values
	// under -i.
	load := []string{
		"1 2 3 4 inf -nan 0x1p3 5. .5 1e400 -0 nan\n",
		"-5 -60 -300 -600 -1.5 -2.5 -3.5 -4.5 -10.25 -20.75 -30.125 -40.375\n",
		"99999999999 2147483648 -2147483649 4294967297 1e308 1e-308 123456789.123456 0.005 0.015 0.025 0.035 0.045\n",
		"7 61 301 599 0.125 0.375 2.675 1.005 0.05 0.15 0.25 1e-400 junk",
		"+1\t2\v3\r4 1E2 2e-2 +3.5 -0.0 1 2 3 4",
	}
	hload := []string{
		load[0][:len(load[0])-1] + " 0 3 0 5\n",
		load[1][:len(load[1])-1] + " -1 0 -7 8\n",
		load[2][:len(load[2])-1] + " 3 3 3 3\n",
		"7 61 301 599 0.125 0.375 2.675 1.005 0.05 0.15 0.25 0.35 7 3 0 1",
		"46 46 46 46 2.956522 2.956522 2.956522 2.956522 35.543478 35.543478 35.543478 35.543478 0 3600 7 86400\n",
	}
	load1 := []string{
		"3 1 2 0 0 0 0 0 0 0 0 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4\n",
		"1 1e -nan 2 inf 0x1p3 3 5. .5 4 1e400 -0 1 2 3 4 5 6 7 8 9 10 11 12 13 14\n",
		"0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
		"1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27\n",
		"nan 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25\n",
		"-1 0.05 0.15 -7 0.25 0.35 0 0 0 0 0 0 1 2 3 4 5 6 7 8 9 -7 1 2 3 4\n",
	}
	oddReplies := map[string][]string{}
	var oddInput strings.Builder
	for cmd, replies := range map[string][]string{"load": load, "load-senderok": load, "hload": hload, "hload-relayok": hload, "load1 60": load1} {
		oddReplies[cmd+"\n"] = replies
		oddInput.WriteString(strings.Repeat(cmd+"\n", len(replies)))
	}

	// barstatus leaves the message count unset when no number follows the
	// states; those replies are run one per process below.
	statuses := []string{
		"error: No free workers\n", "", "X\x00Y", "IIII 5",
		"IBBS 7 2 0 0 9\n", "B 1 2 3 4 5\n", "S\tK 1 2 3 4 5\n",
		strings.Repeat("B", 40) + strings.Repeat("I", 28) + " 5 6 30 7",
	}
	var statusInput strings.Builder
	statusReplies := map[string][]string{}
	for _, s := range statuses {
		for _, cmd := range []string{"status", "barstatus", "rawstatus"} {
			statusReplies["status\n"] = append(statusReplies["status\n"], s)
			statusInput.WriteString(cmd + "\n")
		}
	}

	decodes := []string{
		"a%20b%25c%zz%4\n", "ab%00cd\n", "\x00abc", "no newline", "%0a%0A", "multi\nline\n",
		"%41%4a%4A%g1%", "tab\there\r\n", "\xff\xfe%FF\n",
	}
	decodeReplies := map[string][]string{"echo\n": decodes}
	decodeInput := strings.Repeat("echo\n", len(decodes))

	// 26214 words of 9 letters and spaces fill 262140 bytes of the
	// original's 262144-byte command buffer; fill adds a last word. (One
	// long word would make the original write a NUL far past the buffer
	// and crash; ours sends the truncated line in every case.)
	fill := func(last string) []string {
		args := []string{"-s", "{sock}"}
		for range 26214 {
			args = append(args, "abcdefghi")
		}
		return append(args, last)
	}
	cases := []crossCase{
		{name: "status replies", args: []string{"-s", "{sock}", "-i"}, stdin: statusInput.String(), replies: statusReplies},
		{name: "status error exit", args: []string{"-s", "{sock}", "status"}, replies: one("status\n", "error: No free workers\n")},
		{name: "barstatus error exit", args: []string{"-s", "{sock}", "barstatus"}, replies: one("status\n", "")},
		{name: "status wider than its buffer", args: []string{"-s", "{sock}", "status"}, replies: one("status\n", wide)},
		{name: "barstatus wider than its buffer", args: []string{"-s", "{sock}", "barstatus"}, replies: one("status\n", wide)},
		{name: "rawstatus wider than 4096", args: []string{"-s", "{sock}", "rawstatus"}, replies: one("status\n", wide)},
		{name: "bar scaling", args: []string{"-s", "{sock}", "-i"}, stdin: barInput.String(), replies: map[string][]string{"status\n": bars}},
		{name: "odd numbers", args: []string{"-s", "{sock}", "-i"}, stdin: oddInput.String(), replies: oddReplies},
		{name: "load of an error", args: []string{"-s", "{sock}", "load"}, replies: one("load\n", "error: foo\n")},
		{name: "load of nothing", args: []string{"-s", "{sock}", "load-recipok"}, replies: one("load-recipok\n", "")},
		{name: "load of two numbers", args: []string{"-s", "{sock}", "load"}, replies: one("load\n", "5 7 x")},
		{name: "hload of an error", args: []string{"-s", "{sock}", "hload"}, replies: one("hload\n", "error: foo\n")},
		{name: "hload of two numbers", args: []string{"-s", "{sock}", "hload-senderok"}, replies: one("hload-senderok\n", "5 7 x")},
		{name: "barstatus of states only", args: []string{"-s", "{sock}", "barstatus"}, replies: one("status\n", "IIII")},
		{name: "barstatus of a newline", args: []string{"-s", "{sock}", "barstatus"}, replies: one("status\n", "KB\n")},
		{name: "status of a newline", args: []string{"-s", "{sock}", "status"}, replies: one("status\n", "KB\n")},
		{name: "status with NUL", args: []string{"-s", "{sock}", "status"}, replies: one("status\n", "I%41Z\x00%42")},
		{name: "barstatus with NUL", args: []string{"-s", "{sock}", "barstatus"}, replies: one("status\n", "I%41Z\x00%42")},
		{name: "load1 of 25 fields", args: []string{"-s", "{sock}", "load1", "60"}, replies: one("load1 60\n", load1[2])},
		{name: "decoding", args: []string{"-s", "{sock}", "-i"}, stdin: decodeInput, replies: decodeReplies},
		{name: "raw replies are not decoded", args: []string{"-s", "{sock}", "rawload"}, replies: one("load\n", "a%20b")},
		{name: "reply cut at 262144 bytes", args: []string{"-s", "{sock}", "big"}, replies: one("big\n", big)},
		{name: "help cut at 262144 bytes", args: []string{"-s", "{sock}", "-h"}, replies: one("help\n", big)},
		{name: "empty reply", args: []string{"-s", "{sock}", "busyworkers"}},
		{name: "version without newline", args: []string{"-s", "{sock}", "version"}},

		{name: "escaped words", args: []string{"-s", "{sock}", "NoSuchCommand", `q"uote`, `back\slash`, "100%", "tab\there", "\u00e9\x7f", "", "it's"}},
		{name: "one word with a space", args: []string{"-s", "{sock}", "load1 60"}},
		{name: "rawload1 sends load1", args: []string{"-s", "{sock}", "rawload1", "60"}},
		{name: "command line just fits the buffer", args: fill("ab")},
		{name: "command line fills the buffer", args: fill("abc")},
		{name: "command line over the buffer", args: fill("abcdefgh")},
		{name: "escape fills the buffer", args: fill(" c")},
		{name: "escape does not fit the buffer", args: fill("a b")},

		{name: "invalid option after the command", args: []string{"-s", "{sock}", "status", "-x"}},
		{name: "negative number is an option", args: []string{"-s", "{sock}", "tick", "-5"}},
		{name: "POSIXLY_CORRECT", args: []string{"-s", "{sock}", "tick", "-5"}, env: []string{"POSIXLY_CORRECT="}},
		{name: "double dash", args: []string{"-s", "{sock}", "--", "-x", "status"}},
		{name: "missing socket argument", args: []string{"-s", "{sock}", "status", "-s"}},
		{name: "options after the command", args: []string{"status", "-s", "{sock}"}},
		{name: "last socket wins", args: []string{"-s", "{missing}", "-s", "{sock}", "msgs"}},
		{name: "cluster", args: []string{"-is", "{sock}"}, stdin: "msgs\nfree\n"},
		{name: "help after socket", args: []string{"-s", "{sock}", "-h", "-s", "{missing}"}},
		{name: "help before socket", args: []string{"-s", "{missing}", "-h", "-s", "{sock}"}},
		{name: "help after the command", args: []string{"-s", "{sock}", "status", "-h"}},
		{name: "help with -i and no socket", args: []string{"-i", "-s", "{missing}", "-h"}},
		{name: "bad option with -i and no socket", args: []string{"-i", "-s", "{missing}", "-q"}},
		{name: "no command", args: []string{"-s", "{sock}"}},
		{name: "no command and no socket", args: []string{"-s", "{missing}"}},
		{name: "cobra's completion word", args: []string{"-s", "{sock}", "__complete", "x"}},
		{name: "cobra's completion command", args: []string{"-s", "{sock}", "completion"}},
		{name: "cobra's help command", args: []string{"-s", "{sock}", "help"}},
		{name: "cobra's help command first", args: []string{"help", "-s", "{sock}"}},
		{name: "lone dash", args: []string{"-s", "{sock}", "-"}},
		{name: "empty command word", args: []string{"-s", "{sock}", ""}},

		{name: "missing socket", args: []string{"-s", "{missing}", "status"}},
		{name: "nobody listening", args: []string{"-s", "{stale}", "workers"}},
		{name: "socket is a file", args: []string{"-s", "{file}", "load"}},
		{name: "socket is a directory", args: []string{"-s", "{dir}", "load"}},
		{name: "empty socket path", args: []string{"-s", "", "status"}},
		{name: "at sign socket path", args: []string{"-s", "@md-mx-ctrl-test-none", "status"}},
		{name: "socket path cut at 107 bytes", args: []string{"-s", "{long}", "msgs"}, longSock: true},
		{name: "permission denied", args: []string{"-s", "{sock}", "status"}, asUser: true},
		{name: "reset before the reply", args: []string{"-s", "{sock}", "status"}, reset: true},
		{name: "reset under -i", args: []string{"-s", "{sock}", "-i"}, stdin: "status\nworkers\n", reset: true},

		{name: "interactive mix", args: []string{"-s", "{sock}", "-i"}, stdin: "status\nload1 5\nbarstatus\n\nNoSuch  thing\n" +
			"rawload1 60\nsta\x00tus\nhload\nrawstatus\n" + strings.Repeat("z", 300000) + "\nversion"},
		{name: "interactive without multiplexor", args: []string{"-s", "{missing}", "-i"}, stdin: "status\nmsgs\n"},
		{name: "interactive empty input", args: []string{"-s", "{sock}", "-i"}},
		{name: "interactive ignores the command", args: []string{"-s", "{sock}", "-i", "status"}, stdin: "msgs\n"},
	}
	runCross(t, cases)
}

// runCross runs each case with both binaries.
func runCross(t *testing.T, cases []crossCase) {
	orig, mine := original(t), ours(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			sock := filepath.Join(dir, "mx.sock")
			if tc.longSock {
				pad := 107 - len(dir) - len("/mx.sock") - 1
				if pad < 1 {
					t.Fatalf("temporary directory path too long for this case: %s", dir)
				}
				sub := filepath.Join(dir, strings.Repeat("p", pad))
				if err := os.Mkdir(sub, 0o755); err != nil {
					t.Fatal(err)
				}
				sock = filepath.Join(sub, "mx.sock")
			}
			replies := goldenReplies(t, tc.state)
			maps.Copy(replies, tc.replies)
			srv := startFake(t, sock, replies, tc.reset)
			args := expand(t, dir, sock, tc.args)

			inv := invocation{args: args, stdin: tc.stdin, env: tc.env}
			mine := mine
			if tc.asUser {
				inv.cred, mine = unprivileged(t, sock, mine)
			}
			// Each binary gets a fresh copy of the reply sequences.
			a := run(t, orig, inv)
			a.Requests = srv.take()
			srv.mu.Lock()
			srv.replies = goldenReplies(t, tc.state)
			maps.Copy(srv.replies, tc.replies)
			srv.mu.Unlock()
			b := run(t, mine, inv)
			b.Requests = srv.take()
			diffOutcomes(t, a, b)
			t.Logf("%s; %d requests; stdout %d bytes; stderr %s", b.Status, len(b.Requests), len(b.Stdout), clip(firstLine(b.Stderr)))

			if tc.golden != "" {
				want, got := readGolden(t, tc.golden), b.Stderr+b.Stdout
				if tc.mask != nil {
					want, got = tc.mask(want), tc.mask(got)
				}
				if got != want {
					t.Errorf("output differs from %s\n got %s\nwant %s", tc.golden, clip(got), clip(want))
				}
				if wantStatus := fmt.Sprintf("exit status %d", tc.goldenRC); b.Status != wantStatus {
					t.Errorf("status %q, want %q", b.Status, wantStatus)
				}
			}
		})
	}
}

// firstLine is s up to its first newline.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// expand replaces the placeholders of a case's arguments.
func expand(t *testing.T, dir, sock string, args []string) []string {
	t.Helper()
	out := make([]string, len(args))
	for i, a := range args {
		switch a {
		case "{sock}":
			a = sock
		case "{missing}":
			a = filepath.Join(dir, "missing.sock")
		case "{stale}":
			a = filepath.Join(dir, "stale.sock")
			ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: a, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			ln.SetUnlinkOnClose(false)
			ln.Close()
		case "{file}":
			a = filepath.Join(dir, "file")
			if err := os.WriteFile(a, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		case "{dir}":
			a = dir
		case "{long}":
			a = sock + "/and/more/that/strncpy/drops"
		}
		out[i] = a
	}
	return out
}

// unprivileged returns the credentials of an ordinary user for whom the
// socket is out of reach, and a copy of our binary that user can run. As
// root the user is "defang" (or "nobody"), and the socket's directory is
// closed to others; otherwise it is the current user (nil credentials), and
// the socket's directory is closed to everyone.
func unprivileged(t *testing.T, sock, mine string) (*syscall.Credential, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(filepath.Dir(sock), 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(filepath.Dir(sock), 0o700) })
		return nil, mine
	}
	var u *user.User
	var err error
	for _, name := range []string{"defang", "nobody"} {
		if u, err = user.Lookup(name); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("no unprivileged user to run as: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chmod(filepath.Dir(sock), 0o700); err != nil {
		t.Fatal(err)
	}
	binDir, err := os.MkdirTemp("", "md-mx-ctrl-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(binDir) })
	b, err := os.ReadFile(mine)
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(binDir, "md-mx-ctrl")
	if err := os.WriteFile(cp, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, cp
}

// jsonStatusWant is what ours prints for jsonstatus (timestamp "T") with
// the fake's status reply (rawstatus.txt): the worker states the original's
// status printed for it (status.txt), which change with the load of each
// capture.
func jsonStatusWant(t *testing.T, host string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"timestamp": "T","hostname": "` + host + `"`)
	workers := regexp.MustCompile(`(?m)^Worker (\d+): (idle|busy|stopped|killed)$`).FindAllStringSubmatch(readGolden(t, "status.txt"), -1)
	if len(workers) == 0 {
		t.Fatal("status.txt lists no workers")
	}
	for _, w := range workers {
		fmt.Fprintf(&b, `,"Worker%s": "%s"`, w[1], w[2])
	}
	return b.String() + "}"
}

// jsonLoad1Want is what ours prints for jsonload1 60 (timestamp "T") with
// the fake's load1 60 reply (rawload1_60.txt): its numbers, which change
// with the load of each capture, as the original's load1 60 printed them
// (load1_60.txt).
func jsonLoad1Want(t *testing.T, host string) string {
	t.Helper()
	out := readGolden(t, "load1_60.txt")
	num := func(re string) string {
		t.Helper()
		m := regexp.MustCompile(`(?m)` + re).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("load1_60.txt: no match for %s", re)
		}
		return m[1]
	}
	return `{"timestamp": "T","hostname": "` + host + `",` +
		`"busyworkers":` + num(`^Workers: busy=(\d+) `) + `, "idleworkers":` + num(`^Workers: .* idle=(\d+) `) +
		`, "stoppedworkers":` + num(`^Workers: .* stopped=(\d+) `) + `, "killedworkers":` + num(`^Workers: .* killed=(\d+)$`) +
		`,"scan":` + num(`^ +Scan +(\d+) `) + `, "relayok":` + num(`^ +Relayok +(\d+) `) +
		`, "senderok":` + num(`^ +Senderok +(\d+) `) + `, "recipok":` + num(`^ +Recipok +(\d+) `) +
		`,"queue_size":` + num(`^Queue: +size=(\d+) `) + `, "queued_requests":` + num(`^Queue: .* queued=(\d+)$`) + "}\n"
}

// TestCrossExtensions covers what ours adds to md-mx-ctrl 3.3: jsonstatus,
// jsonload1 and the long option names. The original forwards jsonstatus and
// jsonload1 to the multiplexor as unknown commands; ours formats them as
// later MIMEDefang releases do. The long options must behave exactly like
// the short ones do in the original.
func TestCrossExtensions(t *testing.T) {
	orig, mine := original(t), ours(t)
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	stamp := regexp.MustCompile(`"timestamp": "(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 123][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] [0-9]{4}"`)

	t.Run("json", func(t *testing.T) {
		tests := []struct {
			args         []string
			origSent     string
			oursSent     string
			want         string
			wantFailExit bool
		}{
			{[]string{"jsonstatus"}, "jsonstatus\n", "status\n", jsonStatusWant(t, host), false},
			{[]string{"jsonload1", "60"}, "jsonload1 60\n", "load1 60\n", jsonLoad1Want(t, host), false},
			{[]string{"jsonload1", "5"}, "jsonload1 5\n", "load1 5\n",
				"Could not interpret response: error: Invalid 'back' amount (must be 10-600)\n", true},
		}
		for _, tc := range tests {
			t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
				dir := t.TempDir()
				srv := startFake(t, filepath.Join(dir, "mx.sock"), goldenReplies(t, ""), false)
				inv := invocation{args: append([]string{"-s", srv.path}, tc.args...)}
				a := run(t, orig, inv)
				if got := srv.take(); len(got) != 1 || got[0] != tc.origSent {
					t.Errorf("the original sent %q, want %q", got, tc.origSent)
				}
				if a.Stdout != defaultReply || a.Status != "exit status 0" {
					t.Errorf("the original printed %q (%s), want the forwarded reply", a.Stdout, a.Status)
				}
				b := run(t, mine, inv)
				if got := srv.take(); len(got) != 1 || got[0] != tc.oursSent {
					t.Errorf("ours sent %q, want %q", got, tc.oursSent)
				}
				if got := stamp.ReplaceAllString(b.Stdout, `"timestamp": "T"`); got != tc.want {
					t.Errorf("ours printed\n %q\nwant %q", b.Stdout, tc.want)
				}
				if wantStatus := map[bool]string{false: "exit status 0", true: "exit status 1"}[tc.wantFailExit]; b.Status != wantStatus || b.Stderr != "" {
					t.Errorf("ours ended %q with stderr %q", b.Status, b.Stderr)
				}
			})
		}
	})

	t.Run("long options", func(t *testing.T) {
		tests := []struct {
			long, short []string
			stdin       string
		}{
			{[]string{"--socket", "{sock}", "status"}, []string{"-s", "{sock}", "status"}, ""},
			{[]string{"--socket={sock}", "workers"}, []string{"-s{sock}", "workers"}, ""},
			{[]string{"--socket", "{sock}", "--interactive"}, []string{"-s", "{sock}", "-i"}, "status\nmsgs\n"},
			{[]string{"--socket", "{sock}", "--help"}, []string{"-s", "{sock}", "-h"}, ""},
		}
		for _, tc := range tests {
			t.Run(strings.Join(tc.long, " "), func(t *testing.T) {
				dir := t.TempDir()
				srv := startFake(t, filepath.Join(dir, "mx.sock"), goldenReplies(t, ""), false)
				sub := func(args []string) []string {
					out := make([]string, len(args))
					for i, a := range args {
						out[i] = strings.ReplaceAll(a, "{sock}", srv.path)
					}
					return out
				}
				a := run(t, orig, invocation{args: sub(tc.short), stdin: tc.stdin})
				a.Requests = srv.take()
				b := run(t, mine, invocation{args: sub(tc.long), stdin: tc.stdin})
				b.Requests = srv.take()
				diffOutcomes(t, a, b)
			})
		}
	})
}

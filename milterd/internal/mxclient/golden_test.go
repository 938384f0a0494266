package mxclient

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mdgo/md/milterd/internal/policy"
	"github.com/mdgo/md/proto"

	"github.com/mdgo/md/internal/golden"
)

// goldenDir finds the captures of the original MIMEDefang
// (testdata/golden at the top of the repository, or $MD_GOLDEN_DIR).
func goldenDir(t testing.TB) string {
	t.Helper()
	return golden.Dir(t)
}

// spoolFacts is what a golden spool directory tells about the SMTP
// session: the COMMANDS lines (decoded) and the directory path the milter
// used (-z /var/spool/MIMEDefang, from transcripts/*.milter.cmdline).
type spoolFacts struct {
	cmds map[byte][]string // letter → decoded arguments, in file order
	dir  string
}

func readSpool(t *testing.T, gdir, name string) spoolFacts {
	t.Helper()
	f, err := os.Open(filepath.Join(gdir, "spool", name, "COMMANDS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sf := spoolFacts{cmds: map[byte][]string{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if l == "" {
			continue
		}
		sf.cmds[l[0]] = append(sf.cmds[l[0]], l[1:])
	}
	dn, err := os.ReadFile(filepath.Join(gdir, "spool", name+".dirname"))
	if err != nil {
		t.Fatal(err)
	}
	cmdline, err := os.ReadFile(filepath.Join(gdir, "transcripts", "capture-default.milter.cmdline"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(` -z (\S+)`).FindSubmatch(cmdline)
	if m == nil {
		t.Fatalf("no -z in %q", cmdline)
	}
	sf.dir = string(m[1]) + "/" + strings.TrimSpace(string(dn))
	return sf
}

func (s spoolFacts) one(t *testing.T, letter byte) string {
	t.Helper()
	v := s.cmds[letter]
	if len(v) == 0 {
		t.Fatalf("no %c line in COMMANDS", letter)
	}
	return proto.Decode(v[len(v)-1])
}

func (s spoolFacts) macro(name string) string {
	for _, v := range s.cmds['='] {
		if n, val, ok := strings.Cut(v, " "); ok && n == name {
			return proto.Decode(val)
		}
	}
	return ""
}

// TestGoldenAllChecks replays clean-allchecks.milter-mx.socat.txt: each
// request is built from the session's facts as recorded in the COMMANDS
// file (not from the transcript), sent through a Client to a fake
// multiplexor that answers with the captured reply, and the bytes the fake
// receives must be the captured request.
func TestGoldenAllChecks(t *testing.T) {
	gdir := goldenDir(t)
	chunks := golden.ReadSocat(t, filepath.Join(gdir, "transcripts", "clean-allchecks.milter-mx.socat.txt"))
	sf := readSpool(t, gdir, "clean-allchecks")

	ip := sf.one(t, 'I')
	name := sf.one(t, 'H')
	helo := sf.one(t, 'E')
	sender := sf.one(t, 'S')
	rcptFields := proto.DecodeFields(sf.cmds['R'][0]) // rcpt mailer host addr
	clientPort := sf.macro("client_port")
	daemonPort := sf.macro("daemon_port") // Postfix sent none: stand-in 0
	// myip is MyIPAddress, the lab host's own address (§13.1); COMMANDS
	// does not record it. The qid is unknown before DATA under Postfix.
	const myIP = "127.0.0.1"
	qid := sf.one(t, 'Q')

	requests := []proto.Request{
		proto.Free{},
		proto.RelayOK{IP: ip, Name: name, ClientPort: clientPort, MyIP: myIP, DaemonPort: daemonPort},
		proto.HeloOK{IP: ip, Name: name, Helo: helo, ClientPort: clientPort, MyIP: myIP, DaemonPort: daemonPort},
		proto.SenderOK{Sender: sender, IP: ip, Name: name, Helo: helo, Dir: sf.dir},
		proto.RecipOK{Rcpt: rcptFields[0], Sender: sender, IP: ip, Name: name, FirstRcpt: rcptFields[0],
			Helo: helo, Dir: sf.dir, Mailer: rcptFields[1], Host: rcptFields[2], Addr: rcptFields[3]},
		proto.Scan{QueueID: qid, Dir: sf.dir},
	}
	if len(chunks) != 2*len(requests) {
		t.Fatalf("transcript has %d chunks, want %d", len(chunks), 2*len(requests))
	}
	m := newFakeMux(t, nil)
	c := m.client()
	ctx := context.Background()
	for i, req := range requests {
		want, answer := chunks[2*i], chunks[2*i+1]
		if want.Dir != '>' || answer.Dir != '<' {
			t.Fatalf("chunk pair %d has directions %c %c", i, want.Dir, answer.Dir)
		}
		m.setScript(reply(answer.Data))
		switch r := req.(type) {
		case proto.Free:
			n, err := c.Free(ctx)
			if err != nil || n != 1 {
				t.Errorf("free: %d, %v; want 1", n, err)
			}
		case proto.Scan:
			if err := c.Scan(ctx, r); err != nil {
				t.Errorf("scan: %v", err)
			}
		default:
			cr, err := c.Check(ctx, r)
			if err != nil {
				t.Errorf("%s: %v", r.Command(), err)
				break
			}
			want := proto.CheckReply{Verdict: proto.Continue, HasText: true, Msg: "ok", Code: "250", DSN: "2.1.0"}
			if cr != want {
				t.Errorf("%s: reply %+v, want %+v", r.Command(), cr, want)
			}
			for _, st := range []policy.Stage{policy.Connect, policy.Helo, policy.Sender, policy.Recipient} {
				if d := policy.Decide(st, cr); d.Verdict != proto.Continue || d.Reply != nil || d.Delay != 0 {
					t.Errorf("%s at %v: %+v", r.Command(), st, d)
				}
			}
		}
		if got := m.last(); got != want.Data {
			t.Errorf("%s: request bytes\n got %q\nwant %q", req.Command(), got, want.Data)
		}
	}
}

// TestGoldenScans replays the scan of every default-mode capture (clean,
// exe, reject): the qid comes from COMMANDS, the directory from .dirname.
func TestGoldenScans(t *testing.T) {
	gdir := goldenDir(t)
	for _, name := range []string{"clean", "exe", "reject"} {
		t.Run(name, func(t *testing.T) {
			chunks := golden.ReadSocat(t, filepath.Join(gdir, "transcripts", name+".milter-mx.socat.txt"))
			if len(chunks) != 2 {
				t.Fatalf("%d chunks, want 2 (scan and its reply)", len(chunks))
			}
			sf := readSpool(t, gdir, name)
			m := newFakeMux(t, reply(chunks[1].Data))
			if err := m.client().Scan(context.Background(), proto.Scan{QueueID: sf.one(t, 'Q'), Dir: sf.dir}); err != nil {
				t.Errorf("scan: %v", err)
			}
			if got := m.last(); got != chunks[0].Data {
				t.Errorf("request bytes\n got %q\nwant %q", got, chunks[0].Data)
			}
		})
	}
}

// TestGoldenStartupProbe: the start-up probe is a bare "free".
func TestGoldenStartupProbe(t *testing.T) {
	gdir := goldenDir(t)
	for _, name := range []string{"startup-default", "startup-allchecks"} {
		chunks := golden.ReadSocat(t, filepath.Join(gdir, "transcripts", name+".milter-mx.socat.txt"))
		if len(chunks) < 2 || chunks[0].Data != (proto.Free{}).Line() {
			t.Fatalf("%s: first request %q, want free", name, chunks[0].Data)
		}
		m := newFakeMux(t, reply(chunks[1].Data))
		if n, err := m.client().Free(context.Background()); err != nil || n < 1 {
			t.Errorf("%s: free = %d, %v", name, n, err)
		}
		if got := m.last(); got != chunks[0].Data {
			t.Errorf("%s: got %q", name, got)
		}
	}
}

package milter

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/mdgo/md/milterd/internal/mxclient"
	"github.com/mdgo/md/milterd/internal/spool"
)

// fakeMX is a multiplexor on a UNIX socket that answers scripted replies.
// For a scan it writes results (and newbody, when set) into the directory
// the request names, then answers scanReply.
type fakeMX struct {
	path      string
	ln        net.Listener
	mu        sync.Mutex
	requests  []string
	checks    map[string]string // command → reply
	results   string
	newbody   string
	scanReply string
	free      string
	seenDirs  []string
}

func startFakeMX(t *testing.T) *fakeMX {
	t.Helper()
	dir, err := os.MkdirTemp("", "mdmx")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &fakeMX{path: filepath.Join(dir, "mx.sock"), checks: map[string]string{}, scanReply: "ok\n", free: "3\n",
		results: "F\n"}
	f.ln, err = net.Listen("unix", f.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.ln.Close() })
	go func() {
		for {
			c, err := f.ln.Accept()
			if err != nil {
				return
			}
			go f.handle(c)
		}
	}()
	return f
}

func (f *fakeMX) handle(c net.Conn) {
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return
	}
	line = strings.TrimSuffix(line, "\n")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, line)
	words := strings.Fields(line)
	switch words[0] {
	case "free":
		io.WriteString(c, f.free)
	case "scan":
		dir := words[len(words)-1]
		f.seenDirs = append(f.seenDirs, dir)
		os.WriteFile(filepath.Join(dir, "RESULTS"), []byte(f.results), 0o600)
		if f.newbody != "" {
			os.WriteFile(filepath.Join(dir, "NEWBODY"), []byte(f.newbody), 0o600)
		}
		io.WriteString(c, f.scanReply)
	default:
		r, ok := f.checks[words[0]]
		if !ok {
			r = "ok 1\n"
		}
		io.WriteString(c, r)
	}
}

func (f *fakeMX) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.requests {
		out = append(out, strings.Fields(r)[0])
	}
	return out
}

// startMilter serves cfg on a UNIX socket and returns a client for it.
func startMilter(t *testing.T, cfg *Config) *gomilter.Client {
	t.Helper()
	dir, err := os.MkdirTemp("", "mdmilt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "milter.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(cfg, time.Minute, 10*time.Second)
	go srv.Serve(Listener(ln))
	t.Cleanup(func() { srv.Close() })
	return gomilter.NewClient("unix", sock)
}

func testConfig(t *testing.T, mxPath string) *Config {
	spoolDir := t.TempDir()
	return &Config{
		Spool:               spool.Options{SpoolDir: spoolDir},
		MX:                  &mxclient.Client{Path: mxPath, Timeout: 10 * time.Second},
		ReservedForLoopback: -1,
		ScannedBy:           DefaultScannedBy,
		Logger:              slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	}
}

type outcome struct {
	connect, helo, mail, rcpt *gomilter.Action
	mods                      []gomilter.ModifyAction
	end                       *gomilter.Action
	err                       error
}

var qidCounter int

// runMessage sends one message through a session, stopping at the first
// action that ends it.
func runMessage(t *testing.T, c *gomilter.Client, subject string) outcome {
	t.Helper()
	return runMessageHeaders(t, c, subject, nil)
}

// runMessageHeaders is runMessage with extra header fields after Subject.
func runMessageHeaders(t *testing.T, c *gomilter.Client, subject string, extra [][2]string) outcome {
	t.Helper()
	macros := gomilter.NewMacroBag()
	qidCounter++
	macros.Set(gomilter.MacroQueueId, fmt.Sprintf("QID%d", qidCounter))
	macros.Set(gomilter.MacroRcptMailer, "smtp")
	s, err := c.Session(macros)
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	defer s.Close()
	var o outcome
	if o.connect, o.err = s.Conn("client.example", gomilter.FamilyInet, 4321, "192.0.2.7"); o.err != nil || o.connect.StopProcessing() {
		return o
	}
	if o.helo, o.err = s.Helo("client.example"); o.err != nil || o.helo.StopProcessing() {
		return o
	}
	if o.mail, o.err = s.Mail("sender@example.org", ""); o.err != nil || o.mail.StopProcessing() {
		return o
	}
	if o.rcpt, o.err = s.Rcpt("rcpt@example.com", ""); o.err != nil || o.rcpt.StopProcessing() {
		return o
	}
	if _, o.err = s.DataStart(); o.err != nil {
		return o
	}
	for _, h := range append([][2]string{{"From", "sender@example.org"}, {"To", "rcpt@example.com"}, {"Subject", subject}}, extra...) {
		if _, o.err = s.HeaderField(h[0], h[1], nil); o.err != nil {
			return o
		}
	}
	if _, o.err = s.HeaderEnd(); o.err != nil {
		return o
	}
	if _, o.err = s.BodyChunk([]byte("Hello\r\nWorld\r\n")); o.err != nil {
		return o
	}
	o.mods, o.end, o.err = s.End()
	return o
}

func spoolEmpty(t *testing.T, dir string) {
	t.Helper()
	var ents []os.DirEntry
	for range 50 { // the session's close callback runs after the client has gone
		ents, _ = os.ReadDir(dir)
		if len(ents) == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "mdefang-") {
			t.Errorf("working directory %s left behind", e.Name())
		}
	}
}

func TestSessionAppliesResults(t *testing.T) {
	mx := startFakeMX(t)
	mx.results = "HX-MD-Test ok%201\nNInserted 0 top\nIReceived 2 changed\nJOld 1\nRnew@example.com\nSrcpt@example.com\nf<bounce@example.org>\nC\nQquarantined%20for%20test\nF\n"
	mx.newbody = "new body\n"
	cfg := testConfig(t, mx.path)
	o := runMessage(t, startMilter(t, cfg), "hello")
	if o.err != nil {
		t.Fatal(o.err)
	}
	if o.end.Type != gomilter.ActionAccept {
		t.Fatalf("end = %v, want accept", o.end)
	}
	var got []string
	for _, m := range o.mods {
		got = append(got, m.String())
	}
	want := []string{
		`AddHeader "X-MD-Test" "ok 1"`,
		`InsertHeader 0 "Inserted" "top"`,
		`ChangeHeader 2 "Received" "changed"`,
		`ChangeHeader 1 "Old" ""`,
		`AddRcpt "<new@example.com>" ""`,
		`DelRcpt "<rcpt@example.com>"`,
		`ChangeFrom "<bounce@example.org>" ""`,
		`ReplaceBody len(body) = 9`,
		`Quarantine "quarantined for test"`,
		`AddHeader "X-Scanned-By" "` + DefaultScannedBy + `"`,
	}
	if len(got) != len(want) {
		t.Fatalf("modifications:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("modification %d = %s, want %s", i, got[i], want[i])
		}
	}
	for _, m := range o.mods {
		if m.Type == gomilter.ActionReplaceBody && string(m.Body) != "new body\n" {
			t.Errorf("new body = %q", m.Body)
		}
	}
	if c := mx.commands(); strings.Join(c, ",") != "free,scan" {
		t.Errorf("multiplexor requests = %v, want free,scan", c)
	}
	spoolEmpty(t, cfg.Spool.SpoolDir)
}

func TestSessionReject(t *testing.T) {
	mx := startFakeMX(t)
	mx.results = "B554 5.7.1 Message%20rejected%20by%20test%20policy\nF\n"
	cfg := testConfig(t, mx.path)
	o := runMessage(t, startMilter(t, cfg), "MDTEST-REJECT")
	if o.err != nil {
		t.Fatal(o.err)
	}
	if o.end.Type != gomilter.ActionRejectWithCode || o.end.SMTPCode != 554 ||
		!strings.Contains(o.end.SMTPReply, "5.7.1 Message rejected by test policy") {
		t.Fatalf("end = %+v", o.end)
	}
	spoolEmpty(t, cfg.Spool.SpoolDir)
}

func TestSessionDispositions(t *testing.T) {
	for _, tc := range []struct {
		results string
		want    gomilter.ActionType
	}{
		{"D\nF\n", gomilter.ActionDiscard},
		{"T451 4.3.0 later\nF\n", gomilter.ActionRejectWithCode},
		{"HX-A b\n", gomilter.ActionTempFail}, // no F line
		{"", gomilter.ActionTempFail},
	} {
		mx := startFakeMX(t)
		mx.results = tc.results
		cfg := testConfig(t, mx.path)
		o := runMessage(t, startMilter(t, cfg), "x")
		if o.err != nil {
			t.Fatal(o.err)
		}
		if o.end.Type != tc.want {
			t.Errorf("RESULTS %q: end = %v, want %v", tc.results, o.end, tc.want)
		}
		if tc.want == gomilter.ActionRejectWithCode && o.end.SMTPCode != 451 {
			t.Errorf("RESULTS %q: code %d", tc.results, o.end.SMTPCode)
		}
	}
}

func TestSessionScanErrorTempfails(t *testing.T) {
	mx := startFakeMX(t)
	mx.scanReply = "error: worker died\n"
	cfg := testConfig(t, mx.path)
	cfg.Spool.KeepFailed = true
	o := runMessage(t, startMilter(t, cfg), "x")
	if o.err != nil {
		t.Fatal(o.err)
	}
	if o.end.Type != gomilter.ActionTempFail || len(o.mods) != 0 {
		t.Fatalf("end = %v mods = %v, want tempfail and no modification", o.end, o.mods)
	}
	// -k keeps the directory of a failed filter
	ents, _ := os.ReadDir(cfg.Spool.SpoolDir)
	if len(ents) != 1 {
		t.Errorf("spool holds %d entries, want the kept directory", len(ents))
	}
}

func TestSessionMultiplexorMissing(t *testing.T) {
	cfg := testConfig(t, filepath.Join(t.TempDir(), "nothing.sock"))
	o := runMessage(t, startMilter(t, cfg), "x")
	if o.err != nil {
		t.Fatal(o.err)
	}
	if o.connect == nil || o.connect.Type != gomilter.ActionTempFail {
		t.Fatalf("connect = %v, want tempfail", o.connect)
	}
	// with -q the free check is skipped, and the scan fails instead
	cfg.NoFreeCheck = true
	o = runMessage(t, startMilter(t, cfg), "x")
	if o.err != nil {
		t.Fatal(o.err)
	}
	if o.end == nil || o.end.Type != gomilter.ActionTempFail {
		t.Fatalf("end = %v, want tempfail", o.end)
	}
	spoolEmpty(t, cfg.Spool.SpoolDir)
}

func TestSessionNoFreeWorkers(t *testing.T) {
	mx := startFakeMX(t)
	mx.free = "0\n"
	cfg := testConfig(t, mx.path)
	o := runMessage(t, startMilter(t, cfg), "x")
	if o.connect == nil || o.connect.Type != gomilter.ActionTempFail {
		t.Fatalf("connect = %v, want tempfail", o.connect)
	}
}

func TestSessionChecks(t *testing.T) {
	mx := startFakeMX(t)
	mx.checks["recipok"] = "ok 0 No%20such%20user 550 5.1.1\n"
	cfg := testConfig(t, mx.path)
	cfg.RelayCheck, cfg.HeloCheck, cfg.SenderCheck, cfg.RecipCheck = true, true, true, true
	o := runMessage(t, startMilter(t, cfg), "x")
	if o.err != nil {
		t.Fatal(o.err)
	}
	if o.rcpt == nil || o.rcpt.Type != gomilter.ActionRejectWithCode || o.rcpt.SMTPCode != 550 ||
		!strings.Contains(o.rcpt.SMTPReply, "No such user") {
		t.Fatalf("rcpt = %+v", o.rcpt)
	}
	if c := strings.Join(mx.commands(), ","); c != "free,relayok,helook,senderok,recipok" {
		t.Errorf("requests = %s", c)
	}
	mx.mu.Lock()
	for _, r := range mx.requests {
		if strings.HasPrefix(r, "relayok ") && !strings.HasPrefix(r, "relayok 192.0.2.7 client.example 4321 ") {
			t.Errorf("relayok request = %q", r)
		}
	}
	mx.mu.Unlock()

	mx.checks["senderok"] = "ok -1 busy 451 4.3.0\n"
	o = runMessage(t, startMilter(t, cfg), "x")
	if o.mail == nil || o.mail.Type != gomilter.ActionRejectWithCode || o.mail.SMTPCode != 451 {
		t.Fatalf("mail = %+v", o.mail)
	}
	spoolEmpty(t, cfg.Spool.SpoolDir)
}

func TestProtocolNoReply(t *testing.T) {
	c := &Config{}
	p := c.Protocol()
	for _, f := range []gomilter.OptProtocol{gomilter.OptNoHeloReply, gomilter.OptNoMailReply, gomilter.OptNoRcptReply, gomilter.OptNoBodyReply, gomilter.OptRcptRej} {
		if p&f == 0 {
			t.Errorf("protocol %v lacks %v", p, f)
		}
	}
	if p&gomilter.OptNoConnReply != 0 {
		t.Errorf("connect must reply when the free check is on")
	}
	c = &Config{RelayCheck: true, HeloCheck: true, SenderCheck: true, RecipCheck: true, NoRcptRej: true}
	p = c.Protocol()
	for _, f := range []gomilter.OptProtocol{gomilter.OptNoConnReply, gomilter.OptNoHeloReply, gomilter.OptNoMailReply, gomilter.OptNoRcptReply, gomilter.OptRcptRej} {
		if p&f != 0 {
			t.Errorf("protocol %v has %v", p, f)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func TestSessionPanicTempfails(t *testing.T) {
	mx := startFakeMX(t)
	cfg := testConfig(t, mx.path)
	cfg.MX = nil // every multiplexor call panics
	o := runMessage(t, startMilter(t, cfg), "x")
	if o.err != nil {
		t.Fatal(o.err)
	}
	if o.connect == nil || o.connect.Type != gomilter.ActionTempFail {
		t.Fatalf("connect = %v, want tempfail", o.connect)
	}
	// with -q the first call is the scan
	cfg.NoFreeCheck = true
	o = runMessage(t, startMilter(t, cfg), "x")
	if o.err != nil {
		t.Fatal(o.err)
	}
	if o.end == nil || o.end.Type != gomilter.ActionTempFail {
		t.Fatalf("end = %v, want tempfail", o.end)
	}
	spoolEmpty(t, cfg.Spool.SpoolDir)
}

func TestSessionSpoolErrorAtNoReplyStage(t *testing.T) {
	mx := startFakeMX(t)
	cfg := testConfig(t, mx.path)
	cfg.Spool.SpoolDir = filepath.Join(cfg.Spool.SpoolDir, "missing")
	c := startMilter(t, cfg)
	o := runMessage(t, c, "x")
	if o.err != nil {
		t.Fatal(o.err)
	}
	// MAIL and RCPT negotiated no reply: the failure shows at end of message
	if o.end == nil || o.end.Type != gomilter.ActionTempFail {
		t.Fatalf("end = %v, want tempfail", o.end)
	}
	for _, r := range mx.commands() {
		if r == "scan" {
			t.Errorf("a message without working directory was scanned")
		}
	}
	// with -s MAIL FROM replies, and tempfails at once
	cfg.SenderCheck = true
	o = runMessage(t, startMilter(t, cfg), "x")
	if o.mail == nil || o.mail.Type != gomilter.ActionTempFail {
		t.Fatalf("mail = %v, want tempfail", o.mail)
	}
}

func TestSessionScannedBy(t *testing.T) {
	mx := startFakeMX(t)
	cfg := testConfig(t, mx.path)
	cfg.MyIPAddress = "198.51.100.1"
	o := runMessage(t, startMilter(t, cfg), "x")
	if len(o.mods) != 1 || o.mods[0].HeaderValue != DefaultScannedBy+" on 198.51.100.1" {
		t.Errorf("mods = %v, want X-Scanned-By with my address", o.mods)
	}
	cfg.ScannedBy = ""
	o = runMessage(t, startMilter(t, cfg), "x")
	if len(o.mods) != 0 || o.end.Type != gomilter.ActionAccept {
		t.Errorf("-X: mods = %v, end %v", o.mods, o.end)
	}
}

func TestSessionRecipientAccept(t *testing.T) {
	mx := startFakeMX(t)
	mx.checks["recipok"] = "ok 2\n"
	cfg := testConfig(t, mx.path)
	cfg.RecipCheck = true
	o := runMessage(t, startMilter(t, cfg), "x")
	if o.rcpt == nil || o.rcpt.Type != gomilter.ActionAccept {
		t.Fatalf("rcpt = %v, want accept", o.rcpt)
	}
	spoolEmpty(t, cfg.Spool.SpoolDir)
}

func TestClientAddress(t *testing.T) {
	s := newSession(&Config{LoopbackAddr: "192.0.2.9"})
	for _, tc := range []struct {
		family, addr, ip string
		local            bool
	}{
		{"tcp4", "192.0.2.1", "192.0.2.1", false},
		{"tcp4", "127.0.0.1", "127.0.0.1", true},
		{"tcp6", "::1", "::1", true},
		{"tcp6", "::ffff:192.0.2.3", "192.0.2.3", false},
		{"tcp6", "::192.0.2.4", "192.0.2.4", false},
		{"tcp6", "2001:db8::1", "2001:db8::1", false},
		{"tcp4", "192.0.2.9", "127.0.0.1", false},
		{"unix", "/run/x", "127.0.0.1", false},
		{"unknown", "", "", true},
	} {
		ip, local, ok := s.clientAddress(tc.family, tc.addr)
		if !ok || ip != tc.ip || local != tc.local {
			t.Errorf("clientAddress(%s, %s) = %q, %v, %v; want %q, %v", tc.family, tc.addr, ip, local, ok, tc.ip, tc.local)
		}
	}
}

func TestSessionFinalActions(t *testing.T) {
	mx := startFakeMX(t)
	cfg := testConfig(t, mx.path)
	cfg.ScannedBy = ""
	cfg.Spool.ValidateHeader = "X-MIMEDefang-Relay-abc"
	o := runMessageHeaders(t, startMilter(t, cfg), "x", [][2]string{
		{"X-MIMEDefang-Relay-abc", "192.0.2.1"}, {"Content-Type", "text/plain"},
		{"Content-Type", "text/html"}, {"Content-Type", "text/enriched"},
	})
	if o.err != nil {
		t.Fatal(o.err)
	}
	var got []string
	for _, m := range o.mods {
		got = append(got, m.String())
	}
	want := []string{
		`ChangeHeader 1 "X-MIMEDefang-Relay-abc" ""`,
		`ChangeHeader 2 "Content-Type" ""`,
		`ChangeHeader 3 "Content-Type" ""`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("modifications:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A check reply's delay (the fourth field) holds the answer, as the
// original's do_delay does, but not once md-milterd is shutting down:
// then the answer goes out at once.
func TestSessionDelayEndsAtShutdown(t *testing.T) {
	mx := startFakeMX(t)
	mx.checks["senderok"] = "ok 1 ok 250 2.1.0 1\n"
	cfg := testConfig(t, mx.path)
	cfg.SenderCheck = true
	start := time.Now()
	o := runMessage(t, startMilter(t, cfg), "x")
	if o.err != nil || o.mail == nil || o.mail.StopProcessing() {
		t.Fatalf("with a 1 s delay: mail = %+v, err %v", o.mail, o.err)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("MAIL FROM answered after %v: the filter's 1 s delay was not applied", took)
	}

	stopping := make(chan struct{})
	close(stopping)
	cfg.Stopping = stopping
	mx.checks["senderok"] = "ok 1 ok 250 2.1.0 3600\n"
	start = time.Now()
	o = runMessage(t, startMilter(t, cfg), "x")
	if o.err != nil || o.mail == nil || o.mail.StopProcessing() {
		t.Fatalf("with a 1 h delay during shutdown: mail = %+v, err %v (after %v)", o.mail, o.err, time.Since(start))
	}
}

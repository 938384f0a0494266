package luafilter

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/mdgo/md/worker/filter"
	"github.com/mdgo/md/worker/message"
)

const relayLine = "relayok 192.0.2.1 client.example.com 1234 198.51.100.1 25 QID1"

// TestCheckReturns covers the return conventions of the check callbacks:
// every verdict form, missing values, numbers and strings.
func TestCheckReturns(t *testing.T) {
	cases := []struct {
		ret, want string
	}{
		{`"REJECT", "Go away", 554, "5.7.1", 0`, "ok 0 Go%20away 554 5.7.1 0"},
		{`"REJECT", "Go away", "550", "5.1.1", "0"`, "ok 0 Go%20away 550 5.1.1 0"},
		{`"REJECT", "Go away"`, "ok 0 Go%20away 554 5.7.1 0"},
		{`"REJECT"`, "ok 0 ? 554 5.7.1 0"},
		{`"CONTINUE", "fine"`, "ok 1 fine 250 2.1.0 0"},
		{`"TEMPFAIL", "later", 452, "4.3.1", 5`, "ok -1 later 452 4.3.1 5"},
		{`"TEMPFAIL", "later", 552, "5.3.1"`, "ok -1 later 451 4.3.0 0"},
		{`"DISCARD", "bye"`, "ok 3 bye 250 2.1.0 0"},
		{`"ACCEPT_AND_NO_MORE_FILTERING", "trusted"`, "ok 2 trusted 250 2.1.0 0"},
		{`1, "legacy"`, "ok 1 legacy 250 2.1.0 0"},
		{`0, "legacy"`, "ok 0 legacy 554 5.7.1 0"},
		{`-1, "legacy"`, "ok -1 legacy 451 4.3.0 0"},
		{`"5"`, "ok 1 ? 250 2.1.0 0"},
		{`"ACCEPT", "not a keyword"`, "ok 0 not%20a%20keyword 554 5.7.1 0"},
		{`true`, "ok 1 ? 250 2.1.0 0"},
		{`false`, "ok 0 ? 554 5.7.1 0"},
		{``, "ok 0 ? 554 5.7.1 0"},
		{`nil, "undef rejects"`, "ok 0 undef%20rejects 554 5.7.1 0"},
		{`"REJECT", 42`, "ok 0 42 554 5.7.1 0"},
		{`"REJECT", "x", 554, "5.7.1", 1.5`, "ok 0 x 554 5.7.1 0"},
		{`"REJECT", "x", 554, "5.7.1", -3`, "ok 0 x 554 5.7.1 0"},
		{`"REJECT", "x", 554, "5.7.1", "7"`, "ok 0 x 554 5.7.1 7"},
		{`"REJECT", "x", 421, 5.7`, "ok 0 x 554 5.7.1 0"},
	}
	for _, tc := range cases {
		t.Run(tc.ret, func(t *testing.T) {
			tw := newTestWorker(t, "function filter_relay() return "+tc.ret+" end")
			if got := tw.handle(relayLine); got != tc.want+"\n" {
				t.Errorf("reply %q, want %q", got, tc.want)
			}
		})
	}
}

// TestCheckCallbacks: the arguments of each check callback arrive in the
// Perl order, and the answer goes back.
func TestCheckCallbacks(t *testing.T) {
	dir := t.TempDir()
	tw := newTestWorker(t, `
local function join(...) return table.concat({...}, "|") end
function filter_relay(...) return "CONTINUE", join(...) end
function filter_helo(...) return "CONTINUE", join(...) end
function filter_sender(...) return "CONTINUE", join(...) .. "|" .. table.concat(ESMTPArgs, ",") end
function filter_recipient(...) return "CONTINUE", join(...) .. "|" .. RecipientMailers[Recipients[1]][1] end
`)
	cases := []struct{ line, msg string }{
		{relayLine, "192.0.2.1|client.example.com|1234|198.51.100.1|25|QID1"},
		{"helook 192.0.2.1 client.example.com helo.example 1234 198.51.100.1 25 QID1",
			"192.0.2.1|client.example.com|helo.example|1234|198.51.100.1|25|QID1"},
		{"senderok <s@example.com> 192.0.2.1 client.example.com helo.example " + dir + " QID1 SIZE=10 BODY=8BITMIME",
			"<s@example.com>|192.0.2.1|client.example.com|helo.example|SIZE=10,BODY=8BITMIME"},
		{"recipok <r@example.org> <s@example.com> 192.0.2.1 client.example.com <first@example.org> helo.example " + dir + " QID1 local example.org r@example.org",
			"<r@example.org>|<s@example.com>|192.0.2.1|client.example.com|<first@example.org>|helo.example|local|example.org|r@example.org|local"},
	}
	for _, tc := range cases {
		got := tw.handle(tc.line)
		want := "ok 1 " + strings.ReplaceAll(tc.msg, " ", "%20") + " 250 2.1.0 0\n"
		if got != want {
			t.Errorf("%s:\n got %q\nwant %q", strings.Fields(tc.line)[0], got, want)
		}
	}
}

// TestUndefinedCallbacks: functions the file does not define stay nil.
func TestUndefinedCallbacks(t *testing.T) {
	f, err := LoadString("f.lua", "function filter_begin() end\nfunction handle_Stats() return 'ok 1' end\nfilter_end = 5\n", nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cb := f.Callbacks()
	if cb.Begin == nil || cb.Handlers["stats"] == nil {
		t.Errorf("defined callbacks missing: %+v", cb)
	}
	if cb.Relay != nil || cb.Filter != nil || cb.End != nil || cb.Map != nil || cb.Tick != nil || cb.Initialize != nil {
		t.Errorf("undefined callbacks are not nil: %+v", cb)
	}
}

// TestOtherCallbacks covers filter_initialize, filter_map,
// filter_unknown_cmd, handle_<cmd>, filter_tick, filter_cleanup,
// filter_validate and defang_warning.
func TestOtherCallbacks(t *testing.T) {
	tw := newTestWorker(t, `
inits = 0
function filter_initialize() inits = inits + 1 end
function filter_map(name, key) if key == "known" then return "OK", name .. " value" end return "NOTFOUND", "" end
function filter_unknown_cmd(cmd, a, b) return "ok", cmd, a, b end
function handle_hello(who) return "hi " .. who end
function filter_tick(band) ticked = band end
function filter_cleanup() return 3 end
function filter_validate() return "4" end
function defang_warning(old, new) return "custom: " .. old .. " -> " .. new end
function filter(e, f) if f == "setup.exe" then action_defang(e, "safe.bin", "safe.bin") end end
`)
	ctx := context.Background()
	if err := tw.w.Initialize(ctx); err != nil {
		t.Fatal(err)
	}
	if got := tw.f.L.GetGlobal("inits"); got != lua.LNumber(1) {
		t.Errorf("inits = %v", got)
	}
	for line, want := range map[string]string{
		"map virtusers known":   "OK virtusers%20value\n",
		"map virtusers unknown": "NOTFOUND \n",
		"frob x%20y z":          "ok frob x%20y z\n",
		"hello world":           "hi world\n",
		"tick 2":                "tock 2\n",
	} {
		if got := tw.handle(line); got != want {
			t.Errorf("%q: got %q, want %q", line, got, want)
		}
	}
	if got := tw.f.L.GetGlobal("ticked"); got != lua.LNumber(2) {
		t.Errorf("ticked = %v", got)
	}
	if n, err := tw.w.Cleanup(ctx); n != 3 || err != nil {
		t.Errorf("cleanup = %d, %v", n, err)
	}
	if n := tw.w.Validate(ctx); n != 4 {
		t.Errorf("validate = %d", n)
	}
	_, dir, err := tw.scanDir(exeMsg)
	if err != nil {
		t.Fatal(err)
	}
	if body := readFile(dir, "NEWBODY"); !strings.Contains(body, "custom: setup.exe -> safe.bin") {
		t.Errorf("defang_warning not used:\n%s", body)
	}
}

// TestGlobals: the per-message globals are visible in each phase, reset
// between requests; globals the filter creates persist.
func TestGlobals(t *testing.T) {
	tw := newTestWorker(t, `
requests = 0
local seen = {}
function filter_relay()
  requests = requests + 1
  local r = "CONTINUE", table.concat({Sender, #Recipients, QueueID, RelayAddr, tostring(mark), requests}, "|")
  return "CONTINUE", table.concat({Sender, #Recipients, QueueID, RelayAddr, tostring(mark), requests}, "|")
end
function filter_sender(s)
  requests = requests + 1
  Sender = "tampered"; Recipients[1] = "x"; mark = "kept"
  return "CONTINUE", Sender
end
function filter_begin(e)
  requests = requests + 1
  local g = {Sender, table.concat(Recipients, ","), QueueID, MsgID, MessageID, MIMEDefangID,
    Subject, SubjectCount, Helo, RelayAddr, RealRelayAddr, RelayHostname, RealRelayHostname,
    SendmailMacros["auth_authen"], SendmailMacros["j"], RecipientMailers["<other@example.net>"][1],
    RecipientMailers["<other@example.net>"][3], tostring(WasMultiPart), tostring(SuspiciousCharsInHeaders),
    tostring(SuspiciousCharsInBody), tostring(WasResent), tostring(Changed), Action, CWD ~= "" and "cwd" or "none"}
  for i, v in ipairs(g) do g[i] = tostring(v) end
  action_add_header("X-G", table.concat(g, "|"))
  begin_subject = Subject
end
function filter(e, fname)
  action_add_header("X-Part", Action .. " " .. tostring(begin_subject) .. " " .. tostring(Changed))
  action_drop()
  action_add_header("X-Part", Action .. " " .. tostring(Changed))
end
function filter_end(e)
  action_add_header("X-End", tostring(Changed))
end
`)
	first := tw.handle(relayLine)
	if first != "ok 1 |0|QID1|192.0.2.1|nil|1 250 2.1.0 0\n" {
		t.Errorf("first relay: %q", first)
	}
	tw.handle("senderok <s@example.com> 192.0.2.1 client.example.com helo " + t.TempDir() + " QID2")
	second := tw.handle(relayLine)
	// Sender and Recipients are reset; the filter's own global persists.
	if second != "ok 1 |0|QID1|192.0.2.1|kept|3 250 2.1.0 0\n" {
		t.Errorf("relay after sender: %q", second)
	}
	res := tw.mustScan(plainMsg)
	want := "HX-G " + strings.ReplaceAll(strings.ReplaceAll(
		"<sender@example.com>|<rcpt@example.org>,<other@example.net>|QID123|QID123|<msgid@example.com>|TESTID1|"+
			"Hello there|1|helo.example.com|192.0.2.1|192.0.2.1|client.example.com|client.example.com|"+
			"alice|mx.example.org|smtp|other@example.net|false|false|false|false|false|accept|cwd",
		" ", "%20"), "<", "<")
	if !hasLine(res, want) {
		t.Errorf("RESULTS lacks\n%s\n%s", want, res)
	}
	for _, l := range []string{"HX-Part accept%20Hello%20there%20false", "HX-Part drop%20true", "HX-End true"} {
		if !hasLine(res, l) {
			t.Errorf("RESULTS lacks %s:\n%s", l, res)
		}
	}
	// The next scan starts again from reset globals: Changed is false.
	res = tw.mustScan(plainMsg)
	if !hasLine(res, "HX-Part accept%20Hello%20there%20false") {
		t.Errorf("second scan:\n%s", res)
	}
}

// TestConfigGlobals: file-scope assignments reach the Config, in Perl or
// Lua spelling; defaults are readable.
func TestConfigGlobals(t *testing.T) {
	cfg := filter.DefaultConfig()
	f, err := LoadString("f.lua", `
default_admin = AdminAddress
default_sa_local = SALocalTestsOnly
SALocalTestsOnly = 0
confdir = Features["Path:CONFDIR"]
Features["Path:CONFDIR"] = "/etc/mimedefang"
AdminAddress = "admin@example.org"
AdminName = "Admin"
DaemonAddress = "daemon@example.org"
AddWarningsInline = 1
WarningLocation = -1
NotifyNoPreamble = 0
GeneralWarning = "WARNING\n"
MaxMIMEParts = "50"
Stupidity["NoMultipleInlines"] = true
Features["Path:QUARANTINEDIR"] = "/tmp/q"
Features["Virus:CLAMD"] = false
ClamdSock = "/run/clamd.sock"
`, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.L.GetGlobal("default_admin"); got.String() != "postmaster@localhost" {
		t.Errorf("default AdminAddress seen as %v", got)
	}
	// SALocalTestsOnly has no Config field: its default reads as in
	// Perl, and a filter's assignment stays its own.
	if got := f.L.GetGlobal("default_sa_local"); got != lua.LTrue {
		t.Errorf("default SALocalTestsOnly seen as %v", got)
	}
	if got := f.L.GetGlobal("SALocalTestsOnly"); got != lua.LNumber(0) {
		t.Errorf("SALocalTestsOnly after the assignment: %v", got)
	}
	if got := f.L.GetGlobal("confdir"); got.String() != "/etc/mail" || cfg.Features["Path:CONFDIR"] != "/etc/mimedefang" {
		t.Errorf("Path:CONFDIR seen as %v, set to %q", got, cfg.Features["Path:CONFDIR"])
	}
	if cfg.AdminAddress != "admin@example.org" || cfg.AdminName != "Admin" || cfg.DaemonAddress != "daemon@example.org" ||
		!cfg.AddWarningsInline || cfg.WarningLocation != -1 || cfg.NotifyNoPreamble || cfg.Warning() != "WARNING\n" ||
		cfg.MaxMIMEParts != 50 || !cfg.Stupidity.NoMultipleInlines || cfg.QuarantineDir != "/tmp/q" ||
		cfg.Features["Virus:CLAMD"] != "0" || cfg.Clamd.Sock != "/run/clamd.sock" {
		t.Errorf("config not applied: %+v", cfg)
	}
}

// TestFeatures: Perl's 1/0 feature flags are booleans in Lua, paths stay.
func TestFeatures(t *testing.T) {
	cfg := filter.DefaultConfig()
	cfg.Features["Virus:CLAMAV"] = "0"
	cfg.Features["SpamAssassin"] = "1"
	cfg.Features["tar"] = "/bin/tar"
	f, err := LoadString("f.lua", `r = tostring(Features["Virus:CLAMAV"]) .. tostring(Features["SpamAssassin"]) .. Features["tar"] .. Features["Path:SPOOLDIR"]`, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.L.GetGlobal("r").String(); got != "falsetrue/bin/tar/var/spool/MIMEDefang" {
		t.Errorf("Features seen as %q", got)
	}
}

// TestDeadline: an endless loop is stopped at the request's deadline, the
// request fails, and the state serves the next request.
func TestDeadline(t *testing.T) {
	tw := newTestWorker(t, `
function filter_relay(ip)
  if ip == "192.0.2.1" then while true do end end
  return "CONTINUE", "fine"
end
function filter_helo()
  while true do pcall(function() while true do end end) end
end
function filter_begin() local t = {} while true do t[#t % 100 + 1] = 1 end end
`)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	got := tw.w.Handle(ctx, relayLine)
	if !strings.HasPrefix(got, "error: ") || !strings.Contains(got, "deadline") {
		t.Errorf("reply %q, want an error", got)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stopped after %v", d)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if got := tw.w.Handle(ctx2, "helook 192.0.2.1 n h 1 2 3 Q"); !strings.HasPrefix(got, "error: ") {
		t.Errorf("pcall loop: reply %q, want an error", got)
	}
	if got := tw.handle("relayok 192.0.2.9 n 1 2 3 Q"); got != "ok 1 fine 250 2.1.0 0\n" {
		t.Errorf("after the deadline: %q", got)
	}

	// A scan that loops fails (the milter tempfails); RESULTS has no F.
	tw.f.opts.CallTimeout = 100 * time.Millisecond
	res, err := tw.scan(plainMsg)
	if !errors.Is(err, ErrDeadline) {
		t.Errorf("scan error %v, want ErrDeadline", err)
	}
	if hasLine(res, "F") {
		t.Errorf("RESULTS of a failed scan ends in F:\n%s", res)
	}
}

// TestRuntimeError: a Lua error fails the request with file:line.
func TestRuntimeError(t *testing.T) {
	tw := newTestWorker(t, "function filter_begin(e)\n  local x = 1\n  error('boom')\nend\nfunction filter_end(e)\n  local t = nil\n  t.field = 1\nend\n")
	_, err := tw.scan(plainMsg)
	var re *RuntimeError
	if !errors.As(err, &re) || re.Callback != "filter_begin" || !strings.HasSuffix(re.Where, "filter.lua:3") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %#v", err)
	}
	tw.f.L.SetGlobal("filter_begin", lua.LNil) // the Callbacks still call it: now a nil
	if _, err := tw.scan(plainMsg); err == nil {
		t.Fatal("no error")
	}
	tw = newTestWorker(t, "function filter_end(e)\n  local t = nil\n  t.field = 1\nend\n")
	_, err = tw.scan(plainMsg)
	if !errors.As(err, &re) || !strings.HasSuffix(re.Where, "filter.lua:3") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(tw.log.String(), "filter.lua:3") {
		t.Errorf("log lacks the position:\n%s", tw.log)
	}
}

// TestLoadErrors: syntax errors and unknown functions at file scope fail
// Load with their line.
func TestLoadErrors(t *testing.T) {
	_, err := Load(writeFilter(t, "x = 1\nfunction f(\n"), nil, Options{})
	var se *SyntaxError
	if !errors.As(err, &se) || se.Line != 0 && se.Line != 2 {
		t.Errorf("syntax: %v", err)
	}
	_, err = Load(writeFilter(t, "x = 1\n\nmd_graphdefang_log_enable_typo('mail')\n"), nil, Options{})
	var re *RuntimeError
	if !errors.As(err, &re) || !strings.HasSuffix(re.Where, ":3") || !strings.Contains(err.Error(), "unknown function md_graphdefang_log_enable_typo") {
		t.Errorf("unknown function: %v", err)
	}
	_, err = Load(writeFilter(t, "action_drop()\n"), nil, Options{})
	if err == nil || !strings.Contains(err.Error(), "not at file scope") {
		t.Errorf("file-scope action: %v", err)
	}
	_, err = Load(filepath.Join(t.TempDir(), "missing.lua"), nil, Options{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestCheck: every syntax error is reported with its line; a file that
// parses is checked for unknown functions and run.
func TestCheck(t *testing.T) {
	p := writeFilter(t, `x = 1
function a()
  if x then
    y = = 2
  end
end

function b()
  return 1 +
end

local function c()
  foo(
end
`)
	errs := Check(p)
	var lines []int
	for _, e := range errs {
		var se *SyntaxError
		if !errors.As(e, &se) {
			t.Fatalf("not a SyntaxError: %v", e)
		}
		lines = append(lines, se.Line)
		if !strings.HasPrefix(e.Error(), p+":") {
			t.Errorf("error without file:line: %v", e)
		}
	}
	if len(lines) != 3 || lines[0] != 4 || lines[1] != 10 || lines[2] != 14 {
		t.Errorf("syntax errors at %v, want [4 10 14]: %v", lines, errs)
	}

	p = writeFilter(t, `function filter_end(e)
  if spam_assassin_check then spam_assassin_check() end
  message_contains_virus_sophie()
end
print_it("x")
`)
	errs = Check(p)
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), ":3: call to unknown function message_contains_virus_sophie") ||
		!strings.Contains(errs[1].Error(), ":5: call to unknown function print_it") {
		t.Errorf("errors: %v", errs)
	}

	if errs := check(writeFilter(t, "local n = 0\nwhile true do n = n + 1 end\n"), Options{CallTimeout: 100 * time.Millisecond}); len(errs) != 1 || !errors.Is(errs[0], ErrDeadline) {
		t.Errorf("endless file scope: %v", errs)
	}
	if errs := DefaultEngine.Check("../../../deploy/filters/suggested-minimum.lua"); errs != nil {
		t.Errorf("suggested-minimum.lua: %v", errs)
	}
	if errs := filter.CheckFilter(p); len(errs) != 2 {
		t.Errorf("through package filter: %v", errs)
	}
}

// TestSandbox: the dangerous functions are absent, print goes to the log.
func TestSandbox(t *testing.T) {
	var log bytes.Buffer
	f, err := LoadString("f.lua", `
absent = {}
for _, name in ipairs({"io", "require", "dofile", "loadfile", "module", "package", "debug", "_printregs"}) do
  if _G[name] ~= nil then table.insert(absent, name) end
end
for _, name in ipairs({"execute", "exit", "getenv", "remove", "rename", "setenv", "tmpname"}) do
  if os[name] ~= nil then table.insert(absent, "os." .. name) end
end
present = type(os.time) .. type(os.date) .. type(os.clock) .. type(string.format) .. type(table.concat) .. type(math.floor)
print("hello", 42)
ok, err = pcall(string.rep, "x", 1e9)
ok2 = pcall(function() return ("ab"):rep(1e9) end)
`, nil, Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n := f.L.GetGlobal("absent").(*lua.LTable).Len(); n != 0 {
		t.Errorf("%d forbidden functions present", n)
	}
	if got := f.L.GetGlobal("present").String(); got != "functionfunctionfunctionfunctionfunctionfunction" {
		t.Errorf("present: %s", got)
	}
	if !strings.Contains(log.String(), `hello\t42`) {
		t.Errorf("print did not reach the log: %q", log.String())
	}
	if f.L.GetGlobal("ok") != lua.LFalse || f.L.GetGlobal("ok2") != lua.LFalse {
		t.Errorf("string.rep bomb not refused: %v", f.L.GetGlobal("err"))
	}

	u, err := LoadString("u.lua", `has_io = io ~= nil and os.getenv ~= nil and require ~= nil`, nil, Options{UnsafeLibs: true})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if u.L.GetGlobal("has_io") != lua.LTrue {
		t.Error("UnsafeLibs did not open io/os/package")
	}
}

// TestStackLimits: runaway recursion is a Lua error, not a crash.
func TestStackLimits(t *testing.T) {
	_, err := LoadString("f.lua", "local function r(n) return 1 + r(n + 1) end\nr(1)\n", nil, Options{})
	if err == nil || !strings.Contains(err.Error(), "stack overflow") {
		t.Errorf("recursion: %v", err)
	}
	_, err = LoadString("f.lua", "local t = {} for i = 1, 1000000 do t[i] = i end\nlocal function f(...) return select('#', ...) end\nf(unpack(t))\n", nil, Options{})
	if err == nil {
		t.Errorf("huge unpack accepted")
	}
}

// TestSuggestedMinimum: the shipped port loads and drops an .exe with a
// warning, and discards a message with suspicious header characters.
func TestSuggestedMinimum(t *testing.T) {
	src, err := os.ReadFile("../../../deploy/filters/suggested-minimum.lua")
	if err != nil {
		t.Fatal(err)
	}
	tw := newTestWorker(t, string(src))
	if tw.w.Config().DaemonAddress != "mimedefang@localhost" || tw.w.Config().AdminName != "MIMEDefang Administrator's Full Name" {
		t.Errorf("configuration not applied: %+v", tw.w.Config())
	}
	res, dir, err := tw.scanDir(exeMsg)
	if err != nil {
		t.Fatalf("scan: %v\n%s", err, tw.log)
	}
	if !hasLine(res, "C") || hasLine(res, "D") {
		t.Errorf("RESULTS:\n%s", res)
	}
	body := readFile(dir, "NEWBODY")
	for _, s := range []string{"See the attachment.", "An attachment named setup.exe was removed from this document",
		"WARNING: This e-mail has been altered by MIMEDefang", "MIMEDefang Administrator's Full Name <postmaster@localhost>"} {
		if !strings.Contains(body, s) {
			t.Errorf("NEWBODY lacks %q:\n%s", s, body)
		}
	}
	if strings.Contains(body, "TVqQAAMAAAAEAAAA") {
		t.Errorf("the .exe is still there:\n%s", body)
	}

	// An .exe inside a zip is dropped too.
	_, dir, err = tw.scanDir(archiveMsg("files.zip", zipOf("readme.txt", "game.pif")))
	if err != nil {
		t.Fatal(err)
	}
	if body := readFile(dir, "NEWBODY"); !strings.Contains(body, "An attachment named files.zip was removed") {
		t.Errorf("zip with a .pif kept:\n%s", body)
	}

	// A clean message is left alone.
	res = tw.mustScan(plainMsg)
	if hasLine(res, "C") {
		t.Errorf("clean message rewritten:\n%s", res)
	}

	// Suspicious characters in headers: discarded.
	dir = spool(t, strings.Replace(commands, "F\n", "!\nF\n", 1), plainMsg)
	if err := tw.w.Scan(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if res := readFile(dir, "RESULTS"); !hasLine(res, "D") {
		t.Errorf("suspicious message not discarded:\n%s", res)
	}
}

// BenchmarkScan is one scan of a small message through a trivial Lua
// filter; BenchmarkScanGo is the same filter written in Go, the baseline
// of what the scan costs without Lua.
func BenchmarkScan(b *testing.B) {
	tw := newTestWorker(b, `
function filter_begin(e) end
function filter(e, fname, ext, type)
  if re_match(e, [[\.(exe|com|bat|scr)$]]) then return action_drop_with_warning("no") end
  return action_accept()
end
function filter_end(e) action_add_header("X-Scanned", "yes") end
`)
	benchScan(b, tw.w)
}

func BenchmarkScanGo(b *testing.B) {
	cfg := filter.DefaultConfig()
	cfg.SpoolDir = b.TempDir()
	cb := &filter.Callbacks{
		Begin: func(c *filter.Context, top *message.Part) error { return nil },
		Filter: func(c *filter.Context, p *message.Part, fname, ext, typ string) error {
			if ok, _ := filter.ReMatch(p, `\.(exe|com|bat|scr)$`); ok {
				c.ActionDropWithWarning("no")
				return nil
			}
			c.ActionAccept()
			return nil
		},
		End: func(c *filter.Context, top *message.Part) error {
			c.ActionAddHeader("X-Scanned", "yes")
			return nil
		},
	}
	benchScan(b, filter.NewWorker(cb, cfg, filter.WorkerOptions{Log: io.Discard}))
}

func benchScan(b *testing.B, w *filter.Worker) {
	dir := spool(b, commands, plainMsg)
	// Prefer memory to disk: the scan's file I/O is not what is measured.
	if shm, err := os.MkdirTemp("/dev/shm", "luafilter"); err == nil {
		b.Cleanup(func() { os.RemoveAll(shm) })
		for _, name := range []string{"COMMANDS", "INPUTMSG", "HEADERS"} {
			if err := os.WriteFile(filepath.Join(shm, name), []byte(readFile(dir, name)), 0o600); err != nil {
				b.Fatal(err)
			}
		}
		dir = shm
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for _, name := range []string{"RESULTS", "NEWBODY", "Work", "tmp"} {
			os.RemoveAll(filepath.Join(dir, name))
		}
		b.StartTimer()
		if err := w.Scan(ctx, dir); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRelay is one filter_relay call in Lua, request parsing and
// reply included: the fixed cost of a callback.
func BenchmarkRelay(b *testing.B) {
	tw := newTestWorker(b, `function filter_relay(ip, name) if ip == "192.0.2.99" then return "REJECT", "no" end return "CONTINUE", "ok" end`)
	b.ReportAllocs()
	for b.Loop() {
		if tw.handle(relayLine) != "ok 1 ok 250 2.1.0 0\n" {
			b.Fatal("bad reply")
		}
	}
}

// TestWorkedExample runs the Lua port of the worked example in
// docs/filters.md, so that the documentation stays true.
func TestWorkedExample(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/filters.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(doc), "Its Lua port:\n\n```lua\n")
	src, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("no Lua port in docs/filters.md")
	}
	tw := newTestWorker(t, src)
	if got := tw.handle("relayok 192.0.2.7 n 1 2 3 Q"); got != "ok 0 No%20mail%20from%20192.0.2.7 554 5.7.1 0\n" {
		t.Errorf("relay: %q", got)
	}
	if got := tw.handle("relayok 198.51.100.7 n 1 2 3 Q"); got != "ok 1 ok 250 2.1.0 0\n" {
		t.Errorf("relay: %q", got)
	}
	res, dir, err := tw.scanDir(exeMsg)
	if err != nil {
		t.Fatal(err)
	}
	body := readFile(dir, "NEWBODY")
	if !hasLine(res, "HX-Scanned-By example.org") || !strings.Contains(body, "The attachment setup.exe was removed.") ||
		strings.Contains(body, "Scanned by example.org") {
		t.Errorf("RESULTS:\n%s\nNEWBODY:\n%s\nlog:\n%s", res, body, tw.log)
	}
	// md_syslog reaches the worker's log when there is no system logger.
	if _, err := os.Stat("/dev/log"); err != nil && !strings.Contains(tw.log.String(), "dropping setup.exe") {
		t.Errorf("log:\n%s", tw.log)
	}
}

// TestCheckAgainstSMTPServer: md_check_against_smtp_server's values go
// straight back as filter_recipient's answer; a server that cannot be
// reached gives the original's two values and a tempfail.
func TestCheckAgainstSMTPServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func(conn net.Conn) {
				defer conn.Close()
				r := bufio.NewReader(conn)
				fmt.Fprintf(conn, "220 fake.test ESMTP\r\n")
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
					case strings.HasPrefix(cmd, "RCPT TO:<NOBODY@"):
						fmt.Fprintf(conn, "550 5.1.1 No such user\r\n")
					case cmd == "QUIT":
						fmt.Fprintf(conn, "221 bye\r\n")
						return
					default:
						fmt.Fprintf(conn, "250 ok\r\n")
					}
				}
			}(conn)
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, closedPort, _ := net.SplitHostPort(closed.Addr().String())
	closed.Close()
	tw := newTestWorker(t, `function filter_recipient(rcpt, sender, ip, name, first, helo)
  if rcpt == "<closed@example.org>" then
    local r = {md_check_against_smtp_server(sender, rcpt, "me.test", "127.0.0.1", `+closedPort+`)}
    return r[1], r[2] .. " (" .. #r .. " values)"
  end
  return md_check_against_smtp_server(sender, rcpt, "me.test", "127.0.0.1", `+port+`)
end`)
	dir := t.TempDir()
	line := func(rcpt string) string {
		return "recipok " + rcpt + " <s@example.com> 192.0.2.1 n <f@example.org> helo " + dir + " QID1 local example.org x"
	}
	if got := tw.handle(line("<nobody@example.org>")); got != "ok 0 No%20such%20user 550 5.1.1 0\n" {
		t.Errorf("unknown user: %q", got)
	}
	if got := tw.handle(line("<somebody@example.org>")); !strings.HasPrefix(got, "ok 1 ") {
		t.Errorf("known user: %q", got)
	}
	// No server: the original's two values, a tempfail.
	if got := tw.handle(line("<closed@example.org>")); !strings.HasPrefix(got, "ok -1 Could%20not%20connect") || !strings.Contains(got, "refused%20(2%20values)") {
		t.Errorf("no server: %q", got)
	}
}

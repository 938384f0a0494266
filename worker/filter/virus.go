package filter

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mdgo/md/worker/filter/clamd"
	"github.com/mdgo/md/worker/internal/spooldir"
	"github.com/mdgo/md/worker/message"
)

// The Go filter API of MIMEDefang's ClamAV functions and of its virus
// scanner dispatch (Mail::MIMEDefang::Antivirus; docs/reference/filter-api.md
// §4.15): the clamd client (package clamd), clamdscan and clamscan run
// without a shell, and message_contains_virus / entity_contains_virus,
// which run the scanners %Features enables. Every function returns
// ($code, $category, $action) and never passes mail it could not scan:
// each failure is the original's tempfail outcome.

// VirusResult is what the original's virus-scanner functions return:
// ($code, $category, $action). Category is "ok", "virus", "suspicious",
// "not-installed", "cannot-execute", "interrupted", "swerr" or
// "wrong-context"; Action "ok", "quarantine", "tempfail", or "proceed"
// (run_virus_scanner's success).
type VirusResult struct {
	Code     int
	Category string
	Action   string
}

// Values is the original's return list: (code, category, action).
func (r VirusResult) Values() []any { return []any{r.Code, r.Category, r.Action} }

// Virus reports whether a virus was found (Category "virus").
func (r VirusResult) Virus() bool { return r.Category == clamd.Virus }

// OK reports whether the scan found nothing (Category "ok"). Any other
// category is a virus or a failure: a filter tempfails on a failure.
func (r VirusResult) OK() bool { return r.Category == clamd.OK }

var (
	okVirusResult      = VirusResult{0, clamd.OK, "ok"}
	swerrVirusResult   = VirusResult{999, clamd.SoftwareError, "tempfail"}
	cannotExecuteVirus = VirusResult{999, clamd.CannotExecute, "tempfail"}
	wrongContextVirus  = VirusResult{999, "wrong-context", "tempfail"}
)

// DefaultClamdConf is $Features{'Path:CLAMDCONF'}'s default: the
// clamdscan configuration MIMEDefang's message and entity functions give
// clamdscan with -c, @CONFDIR@/MD-clamdscan.conf.
const DefaultClamdConf = "/etc/mail/MD-clamdscan.conf"

// MessageContainsVirusClamd is message_contains_virus_clamd($sock): it asks
// clamd at sock ("" means Config.Clamd.Sock, $ClamdSock) about the whole
// message, as clamd.Client.MessageContainsVirus does with Config.Clamd:
// PING, then, with INSTREAM (the default), every decoded leaf and the
// files a filter copied into Work (INPUTMSG, INPUTMBOX); with SCAN or
// MULTISCAN, the Work directory, after writing every decoded leaf in it.
// A virus sets VirusName and adds "clamd found the <name> virus.\n" to
// VirusScannerMessages; a daemon that cannot be reached or does not answer
// in time gives (999, "cannot-execute", "tempfail"), an error reply (999,
// "swerr", "tempfail"), each logged with MdSyslog as the original logs it.
// An error reply about a zip module or an unsupported data format falls
// back on clamscan when $Features{'Virus:CLAMAV'} is set, as the original
// does. Outside a scan it gives (999, "wrong-context", "tempfail").
func (c *Context) MessageContainsVirusClamd(sock string) (res VirusResult) {
	defer c.noteVirusCall("clamd", "message", time.Now(), &res)
	if !c.inMessageContext("message_contains_virus_clamd") || c.Message == nil {
		return wrongContextVirus
	}
	msg := clamd.Message{Work: c.workDirWritten}
	message.Walk(c.Message.Top(), func(p *message.Part, _ int) bool {
		if !p.IsMultipart() {
			msg.Parts = append(msg.Parts, decodeTo(p))
		}
		return true
	})
	for _, name := range []string{"INPUTMSG", "INPUTMBOX"} {
		if path := c.path(filepath.Join("Work", name)); fileExists(path) {
			msg.Parts = append(msg.Parts, copyFile(path))
		}
	}
	return c.clamdOutcome(c.clamdClient().MessageContainsVirus(c.ctx(), sock, msg))
}

// EntityContainsVirusClamd is entity_contains_virus_clamd($entity, $sock):
// it asks clamd about one part (its decoded body with INSTREAM, the file
// holding it with SCAN or MULTISCAN), without PING. A part without a body
// (a container) gives (0, "ok", "ok"); the other outcomes are
// MessageContainsVirusClamd's.
func (c *Context) EntityContainsVirusClamd(p *message.Part, sock string) (res VirusResult) {
	defer c.noteVirusCall("clamd", entitySubject(p), time.Now(), &res)
	if p == nil || p.IsMultipart() {
		return okVirusResult
	}
	e := clamd.Entity{Body: decodeTo(p), Path: func() (string, error) { return c.bodyPath(p) }, CWD: c.CWD}
	return c.clamdOutcome(c.clamdClient().EntityContainsVirus(c.ctx(), sock, e))
}

// clamdOutcome applies a clamd result to the per-message state, and falls
// back on clamscan after a zip failure as the original does.
func (c *Context) clamdOutcome(r clamd.Result) VirusResult {
	if r.Category == clamd.Virus {
		c.VirusName = r.VirusName
		c.VirusScannerMessages += r.Messages
	}
	if r.Category == clamd.SoftwareError && clamd.IsZipFailure(r.Detail) && c.feature("Virus:CLAMAV") {
		work, err := c.workDirWritten()
		if err != nil {
			return c.workFailed(err)
		}
		res := c.RunVirusScanner(c.program("Virus:CLAMAV", clamd.ClamscanFallbackArgs(work)...), "")
		if res.Action != "proceed" {
			return res
		}
		c.MdSyslog("info", "Falling back on clamscan --unzip --unrar because of Zip module failure in clamd")
		return c.InterpretClamavCode(res.Code)
	}
	return VirusResult{r.Code, r.Category, r.Action}
}

// clamdClient returns the clamd client of this request: Config.Clamd,
// with MdSyslog where it leaves Log unset.
func (c *Context) clamdClient() *clamd.Client {
	var cfg clamd.Config
	if c.Config != nil {
		cfg = c.Config.Clamd
	}
	if cfg.Log == nil {
		cfg.Log = c.MdSyslog
	}
	return clamd.New(cfg)
}

// MessageContainsVirusClamdscan is message_contains_virus_clamdscan(): it
// runs $Features{'Virus:CLAMDSCAN'} (a program path, split at blanks;
// never through a shell) with ClamdscanArgs on ./Work, after writing every
// decoded leaf there, and reads its exit status with InterpretClamavCode.
// Without Virus:CLAMDSCAN it logs "clamav not installed on this system"
// and gives (1, "not-installed", "tempfail"); a program that cannot run
// gives RunVirusScanner's (999, "cannot-execute", "tempfail"), Work that
// cannot be written (999, "swerr", "tempfail").
func (c *Context) MessageContainsVirusClamdscan() (res VirusResult) {
	defer c.noteVirusCall("clamdscan", "message", time.Now(), &res)
	if !c.feature("Virus:CLAMDSCAN") {
		return c.notInstalled("clamav")
	}
	if _, err := c.workDirWritten(); err != nil {
		return c.workFailed(err)
	}
	return c.runClamav(c.program("Virus:CLAMDSCAN", clamd.ClamdscanArgs(c.clamdConf(), "./Work")...))
}

// EntityContainsVirusClamdscan is entity_contains_virus_clamdscan($entity):
// MessageContainsVirusClamdscan on the file holding the part's decoded
// body. A part without a body gives (0, "ok", "ok").
func (c *Context) EntityContainsVirusClamdscan(p *message.Part) (res VirusResult) {
	defer c.noteVirusCall("clamdscan", entitySubject(p), time.Now(), &res)
	if !c.feature("Virus:CLAMDSCAN") {
		return c.notInstalled("clamav")
	}
	if p == nil || p.IsMultipart() {
		return okVirusResult
	}
	path, err := c.bodyPath(p)
	if err != nil {
		return c.workFailed(err)
	}
	return c.runClamav(c.program("Virus:CLAMDSCAN", clamd.ClamdscanArgs(c.clamdConf(), path)...))
}

// MessageContainsVirusClamav is message_contains_virus_clamav(): it runs
// clamscan ($Features{'Virus:CLAMAV'}) with ClamscanArgs on ./Work, after
// writing every decoded leaf there, and reads its exit status with
// InterpretClamavCode. The outcomes are MessageContainsVirusClamdscan's.
func (c *Context) MessageContainsVirusClamav() (res VirusResult) {
	defer c.noteVirusCall("clamscan", "message", time.Now(), &res)
	if !c.feature("Virus:CLAMAV") {
		return c.notInstalled("clamav")
	}
	if _, err := c.workDirWritten(); err != nil {
		return c.workFailed(err)
	}
	return c.runClamav(c.program("Virus:CLAMAV", clamd.ClamscanArgs(true, "./Work")...))
}

// EntityContainsVirusClamav is entity_contains_virus_clamav($entity):
// clamscan on the file holding the part's decoded body. A part without a
// body gives (0, "ok", "ok").
func (c *Context) EntityContainsVirusClamav(p *message.Part) (res VirusResult) {
	defer c.noteVirusCall("clamscan", entitySubject(p), time.Now(), &res)
	if !c.feature("Virus:CLAMAV") {
		return c.notInstalled("clamav")
	}
	if p == nil || p.IsMultipart() {
		return okVirusResult
	}
	path, err := c.bodyPath(p)
	if err != nil {
		return c.workFailed(err)
	}
	return c.runClamav(c.program("Virus:CLAMAV", clamd.ClamscanArgs(false, path)...))
}

// runClamav runs a ClamAV program and reads its exit status.
func (c *Context) runClamav(argv []string) VirusResult {
	res := c.RunVirusScanner(argv, "")
	if res.Action != "proceed" {
		return res
	}
	return c.InterpretClamavCode(res.Code)
}

// workFailed is the outcome of decoded bodies that could not be written
// for a scanner: the original's body without a path.
func (c *Context) workFailed(err error) VirusResult {
	c.MdSyslog("err", fmt.Sprintf("Cannot write the decoded parts to Work for the virus scanner: %v", err))
	return swerrVirusResult
}

// notInstalled is the original's answer of a scanner function whose
// feature is off.
func (c *Context) notInstalled(name string) VirusResult {
	c.MdSyslog("err", name+" not installed on this system")
	return VirusResult{1, "not-installed", "tempfail"}
}

// InterpretClamavCode is interpret_clamav_code($code): the exit status of
// clamscan or clamdscan read as clamd.InterpretClamavCode does, with
// CurrentVirusScannerMessage as the output; a virus sets VirusName.
func (c *Context) InterpretClamavCode(code int) VirusResult {
	r := clamd.InterpretClamavCode(code, c.CurrentVirusScannerMessage, c.VirusName)
	if r.Category == clamd.Virus {
		c.VirusName = r.VirusName
	}
	return VirusResult{r.Code, r.Category, r.Action}
}

// RunVirusScanner is run_virus_scanner($cmdline, $match) without a shell:
// it runs argv[0] with the arguments argv[1:] in the working directory
// (CWD), standard output and standard error together, and keeps the lines
// that match the regular expression match ("" means ".*"; RE2, matched
// case-insensitively), and those of ./DAEMON.RPT, which it then removes;
// the kept text becomes CurrentVirusScannerMessage and is added to
// VirusScannerMessages. It returns (exit status, "ok", "proceed"), or
// (-1, "ok", "proceed") for a program killed by a signal (the request's
// deadline kills it). A program that cannot be started gives (999,
// "cannot-execute", "tempfail") with "Unable to execute <cmd>: <reason>"
// logged and kept as the message; outside a scan it gives (999,
// "wrong-context", "tempfail").
func (c *Context) RunVirusScanner(argv []string, match string) VirusResult {
	if !c.inMessageContext("run_virus_scanner") {
		return wrongContextVirus
	}
	c.CurrentVirusScannerMessage = ""
	if match == "" {
		match = ".*"
	}
	cmdline := strings.Join(argv, " ")
	re, err := regexp.Compile("(?i)" + match)
	if err == nil && len(argv) == 0 {
		err = errors.New("no program")
	}
	var out []byte
	code := 0
	if err == nil {
		cmd := exec.CommandContext(c.ctx(), argv[0], argv[1:]...)
		cmd.Dir = c.CWD
		cmd.WaitDelay = 5 * time.Second
		out, err = cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code, err = ee.ExitCode(), nil
		}
	}
	if err != nil {
		return c.cannotRun(cmdline, err)
	}
	var msg strings.Builder
	keep := func(r io.Reader) {
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadString('\n')
			if line != "" && re.MatchString(strings.TrimSuffix(line, "\n")) {
				msg.WriteString(line)
			}
			if err != nil {
				return
			}
		}
	}
	keep(bytes.NewReader(out))
	if rpt, err := os.Open(c.path("DAEMON.RPT")); err == nil {
		keep(rpt)
		rpt.Close()
		_ = os.Remove(c.path("DAEMON.RPT"))
	}
	c.VirusScannerMessages += msg.String()
	c.CurrentVirusScannerMessage = msg.String()
	return VirusResult{code, "ok", "proceed"}
}

// cannotRun is run_virus_scanner's outcome for a program that cannot be
// started.
func (c *Context) cannotRun(cmdline string, err error) VirusResult {
	msg := "Unable to execute " + cmdline + ": " + err.Error()
	c.MdSyslog("err", "run_virus_scanner: "+msg)
	c.VirusScannerMessages += msg + "\n"
	c.CurrentVirusScannerMessage = msg
	return cannotExecuteVirus
}

// RunVirusScannerCommand is run_virus_scanner($cmdline, $match) for the
// command line of a Perl filter: it is split at blanks, without a shell,
// and a final "2>&1" is dropped (standard error is always read); then
// RunVirusScanner runs it. A command line that needs a shell (quotes,
// pipes, redirections, variables, wildcards) is a program that cannot be
// started: (999, "cannot-execute", "tempfail"), with the reason logged.
func (c *Context) RunVirusScannerCommand(cmdline, match string) VirusResult {
	if !c.inMessageContext("run_virus_scanner") {
		return wrongContextVirus
	}
	argv, err := splitScannerCommand(cmdline)
	if err != nil {
		c.CurrentVirusScannerMessage = ""
		return c.cannotRun(cmdline, err)
	}
	return c.RunVirusScanner(argv, match)
}

// splitScannerCommand splits a command line at blanks and drops a final
// "2>&1"; a word a shell would interpret is an error.
func splitScannerCommand(cmdline string) ([]string, error) {
	argv := strings.Fields(cmdline)
	if n := len(argv); n > 0 && argv[n-1] == "2>&1" {
		argv = argv[:n-1]
	}
	if len(argv) == 0 {
		return nil, errors.New("empty command")
	}
	for _, a := range argv {
		if strings.ContainsAny(a, "|&;<>()$`\\\"'*?[]{}~#") {
			return nil, fmt.Errorf("%q needs a shell, and md-worker runs scanners without one: give the program and its arguments as a list", a)
		}
	}
	return argv, nil
}

// The virus scanners of message_contains_virus, in the original's order
// (initialize_virus_scanner_routines): the daemons first, then the
// command-line scanners. md-worker has the three ClamAV ones; another that
// a filter enables gives (1, "not-installed", "tempfail"), so that mail is
// not passed as scanned by it.
type virusScanner struct {
	feature string // the %Features switch
	unless  string // a switch that replaces it ("" none)
	message func(c *Context) VirusResult
	entity  func(c *Context, p *message.Part) VirusResult
}

var virusScanners = []virusScanner{
	{feature: "Virus:CLAMD", message: func(c *Context) VirusResult { return c.MessageContainsVirusClamd("") },
		entity: func(c *Context, p *message.Part) VirusResult { return c.EntityContainsVirusClamd(p, "") }},
	{feature: "Virus:CLAMDSCAN", message: (*Context).MessageContainsVirusClamdscan, entity: (*Context).EntityContainsVirusClamdscan},
	{feature: "Virus:SOPHIE"},
	{feature: "Virus:TROPHIE"},
	{feature: "Virus:SymantecCSS"},
	{feature: "Virus:FPROTD"},
	{feature: "Virus:FPROTD6"},
	{feature: "Virus:AVP5"},
	{feature: "Virus:KAVSCANNER"},
	{feature: "Virus:CLAMAV", unless: "Virus:CLAMD", message: (*Context).MessageContainsVirusClamav, entity: (*Context).EntityContainsVirusClamav},
	{feature: "Virus:AVP"},
	{feature: "Virus:NAI"},
	{feature: "Virus:FPROT", unless: "Virus:FPROTD"},
	{feature: "Virus:FPSCAN", unless: "Virus:FPROTD6"},
	{feature: "Virus:CSAV"},
	{feature: "Virus:FSAV"},
	{feature: "Virus:HBEDV"},
	{feature: "Virus:BDC"},
	{feature: "Virus:NVCC"},
	{feature: "Virus:VEXIRA"},
	{feature: "Virus:SOPHOS", unless: "Virus:SOPHIE"},
	{feature: "Virus:SAVSCAN"},
	{feature: "Virus:TREND", unless: "Virus:TROPHIE"},
	{feature: "Virus:NOD32"},
}

// InitializeVirusScannerRoutines is initialize_virus_scanner_routines():
// it chooses, once per worker, the scanners message_contains_virus and
// entity_contains_virus run, from %Features (Config.Features): "Virus:CLAMD",
// "Virus:CLAMDSCAN", then "Virus:CLAMAV" unless "Virus:CLAMD" is on (and
// the original's other scanners, which md-worker does not have, in their
// places). A switch is on when its value is neither "" nor "0". As in the
// original, switches changed after the first call are not seen by that
// worker.
func (c *Context) InitializeVirusScannerRoutines() {
	if c.w != nil && c.w.virusInit {
		return
	}
	var list []virusScanner
	for _, s := range virusScanners {
		if c.feature(s.feature) && (s.unless == "" || !c.feature(s.unless)) {
			list = append(list, s)
		}
	}
	if c.w != nil {
		c.w.virusInit, c.w.virusScanners = true, list
	}
	c.virusScanners = list
}

// scanners returns the scanners InitializeVirusScannerRoutines chose.
func (c *Context) scanners() []virusScanner {
	c.InitializeVirusScannerRoutines()
	if c.w != nil {
		return c.w.virusScanners
	}
	return c.virusScanners
}

// MessageContainsVirus is message_contains_virus(): it runs every scanner
// InitializeVirusScannerRoutines chose on the whole message, in order, and
// returns the first virus at once; otherwise the last result that was
// not "ok", or (0, "ok", "ok") (also when no scanner is on).
func (c *Context) MessageContainsVirus() VirusResult {
	return c.runScanners(func(s virusScanner) VirusResult {
		if s.message == nil {
			return c.unsupportedScanner(s.feature)
		}
		return s.message(c)
	})
}

// EntityContainsVirus is entity_contains_virus($entity):
// MessageContainsVirus with each scanner's entity function on p.
func (c *Context) EntityContainsVirus(p *message.Part) VirusResult {
	return c.runScanners(func(s virusScanner) VirusResult {
		if s.entity == nil {
			return c.unsupportedScanner(s.feature)
		}
		return s.entity(c, p)
	})
}

func (c *Context) runScanners(run func(virusScanner) VirusResult) VirusResult {
	list := c.scanners()
	res := okVirusResult
	if len(list) == 0 {
		return res
	}
	if c.w != nil {
		c.w.pushStatus(c, "Running virus scanner")
		defer c.w.popStatus(c)
	}
	for _, s := range list {
		r := run(s)
		if r.Category == clamd.Virus {
			return r
		}
		if r.Category != clamd.OK {
			res = r
		}
	}
	return res
}

func (c *Context) unsupportedScanner(feature string) VirusResult {
	c.MdSyslog("err", fmt.Sprintf("$Features{'%s'} is set, but md-worker has no such virus scanner", feature))
	return VirusResult{1, "not-installed", "tempfail"}
}

// feature reports whether the %Features switch name is on: neither ""
// nor "0".
func (c *Context) feature(name string) bool {
	if c.Config == nil {
		return false
	}
	v := c.Config.Features[name]
	return v != "" && v != "0"
}

// program is the argument list of the program a %Features value names
// (split at blanks, as a shell would split it), followed by args.
func (c *Context) program(feature string, args ...string) []string {
	return append(strings.Fields(c.Config.Features[feature]), args...)
}

// clamdConf is $Features{'Path:CLAMDCONF'}, or DefaultClamdConf.
func (c *Context) clamdConf() string {
	if v := c.Config.Features["Path:CLAMDCONF"]; v != "" {
		return v
	}
	return DefaultClamdConf
}

// workDirWritten writes every decoded leaf of the message to Work (those
// not written yet) and returns Work's absolute path: what the original's
// scanners of ./Work read.
func (c *Context) workDirWritten() (string, error) {
	work, err := filepath.Abs(c.path("Work"))
	if err != nil {
		return "", err
	}
	if c.Message == nil {
		return "", errors.New("no message")
	}
	if err := os.MkdirAll(work, spooldir.DirMode); err != nil {
		return "", err
	}
	return work, c.writeWork(work, c.Message.Top())
}

// bodyPath returns the absolute path of a file under Work holding p's
// decoded body, writing it on first use.
func (c *Context) bodyPath(p *message.Part) (string, error) {
	if path, ok := c.workFiles[p]; ok {
		return path, nil
	}
	work, err := filepath.Abs(c.path("Work"))
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(work, spooldir.DirMode); err != nil {
		return "", err
	}
	c.workFileCount++
	path := filepath.Join(work, "part-e"+strconv.Itoa(c.workFileCount)+".bin")
	if err := writePart(path, p); err != nil {
		return "", err
	}
	c.rememberWorkFile(p, path)
	return path, nil
}

func (c *Context) rememberWorkFile(p *message.Part, path string) {
	if c.workFiles == nil {
		c.workFiles = map[*message.Part]string{}
	}
	c.workFiles[p] = path
}

// writePart writes p's decoded body to a new file at path. A body that
// does not decode to the end is written as far as it goes, to be scanned
// as the original's parser leaves it.
func writePart(path string, p *message.Part) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, spooldir.FileMode)
	if err != nil {
		return err
	}
	if _, err := p.DecodeTo(f); err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// decodeTo is a part's decoded body for a stream.
func decodeTo(p *message.Part) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := p.DecodeTo(w)
		return err
	}
}

// copyFile is a file's bytes for a stream.
func copyFile(path string) func(io.Writer) error {
	return func(w io.Writer) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	}
}

func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

package chaos

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// The timeouts of the campaign's stack, short so that a hung scanner or a
// stopped multiplexor costs seconds, not minutes.
const (
	scannerTimeout = 2                // seconds: clamd, rspamd and each DNS query
	spamdTimeout   = 5                // seconds: spamd, the slow one, on a loaded machine
	workerTimeout  = "8s"             // md-worker's request deadline (MD_WORKER_TIMEOUT)
	mxTimeout      = 12 * time.Second // md-milterd --mx-timeout
	// Postfix's milter_content_timeout: the slow-replies fault stops the
	// multiplexor for less than mxTimeout, between the two, and beyond
	// both.
	postfixMilterTimeout = 20 * time.Second
	spoolSize            = "512m" // the spool's tmpfs
	blocklist            = "bl.chaos.test"
)

// chaosStack is the whole Go stack behind Postfix, with the scanners of a
// real site: clamd, spamd, rspamd and an NSD serving the DNS blocklist.
// Its spool is a tmpfs of its own, so that it can be filled; its worker
// program is garbleworker, which runs md-worker and spoils its replies
// while the garble flag file exists.
type chaosStack struct {
	*harness.Stack
	t           *testing.T
	clamd       *harness.ClamdDaemon
	spamd       *harness.SpamdDaemon
	rspamd      *harness.RspamdDaemon
	nsd         *harness.NSD
	mxctrl      string
	metrics     string // md-multiplexor's /metrics address
	spool       string
	garbleFlag  string // exists: garbleworker spoils replies
	filterHead  string // the settings written in front of chaos.lua
	filterBody  string
	mxArgs      []string
	installedMx string
	orphans     int // working directories left by md-milterds killed
}

// startChaosStack starts it all; mxArgs are more md-multiplexor flags.
func startChaosStack(t *testing.T, mxArgs ...string) *chaosStack {
	harness.RequireRoot(t)
	dir := harness.NewTestDir(t)
	cs := &chaosStack{t: t, mxctrl: harness.MDBinary(t, "md-mx-ctrl")}

	defang := harness.LookupUser(t, harness.DefangUser, "mimedefang")
	cs.spool = mountSpool(t, filepath.Join(dir, "spool"), defang)

	// garbleworker runs md-worker from a directory the defang user can
	// reach, and looks for its flag file in another.
	bin := harness.MkdirOwned(t, filepath.Join(dir, "chaosbin"), harness.Account{}, 0o755)
	t.Setenv("CHAOS_MD_WORKER", harness.InstallExecutable(t, harness.MDBinary(t, "md-worker"), bin))
	flags := harness.MkdirOwned(t, filepath.Join(dir, "flags"), harness.Account{}, 0o755)
	cs.garbleFlag = filepath.Join(flags, "garble.on")
	t.Setenv("CHAOS_GARBLE_FLAG", cs.garbleFlag)
	t.Setenv("CHAOS_GARBLE_EVERY", "3")
	t.Setenv("MD_WORKER_TIMEOUT", workerTimeout)
	t.Setenv("MD_WORKER_MAX_HEAP_MB", "256")
	garble := buildGarbleWorker(t)

	cs.clamd = harness.StartClamd(t, harness.ClamdOptions{Dir: dir})
	cs.spamd = harness.StartSpamd(t, harness.SpamdOptions{Dir: dir, MaxChildren: 4})
	cs.rspamd = harness.StartRspamd(t, harness.RspamdOptions{Dir: dir})
	cs.nsd = harness.StartNSD(t, harness.NSDOptions{Dir: dir, Zones: map[string]string{blocklist: fmt.Sprintf(`$TTL 60
@ IN SOA ns.%[1]s. hostmaster.%[1]s. 1 3600 600 86400 60
@ IN NS ns.%[1]s.
ns IN A 127.0.0.1
; a listed address the campaign's clients never use
2.0.0.192 IN A 127.0.0.2
`, blocklist)}})

	body, err := os.ReadFile("testdata/chaos.lua")
	if err != nil {
		t.Fatal(err)
	}
	cs.filterBody = string(body)
	cs.filterHead = fmt.Sprintf(`ClamdSock = %[1]q
ClamdWriteTimeout, ClamdReadTimeout = %[2]d, %[2]d
SpamdHost, SpamdPort = %[3]q, %[4]q
SpamdTimeout = %[8]d
RspamdURL = %[5]q
RspamdTimeout = %[2]d
DNSServers = %[6]q
DNSTimeout = %[2]d
Blocklist = %[7]q
`, cs.clamd.Socket, scannerTimeout, cs.spamd.Host, cs.spamd.PortString(), cs.rspamd.URL, cs.nsd.Addr, blocklist, spamdTimeout)
	filter := filepath.Join(dir, "chaos-filter.lua")
	if err := os.WriteFile(filter, []byte(cs.filter(false)), 0o644); err != nil {
		t.Fatal(err)
	}

	cs.metrics = fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	cs.mxArgs = append([]string{"-m", "2", "-x", "4", "-b", "10", "--metrics-listen", cs.metrics}, mxArgs...)
	cs.Stack = harness.StartStack(t, harness.StackOptions{
		Dir:             dir,
		Spool:           cs.spool,
		Multiplexor:     harness.MDBinary(t, "md-multiplexor"),
		Milter:          harness.MDBinary(t, "md-milterd"),
		Worker:          garble,
		Filter:          filter,
		MultiplexorArgs: cs.mxArgs,
		// A md-milterd killed with messages in flight leaves their
		// working directories; the restarted one removes them after
		// --stale-age, within the campaign.
		MilterArgs: []string{"--mx-timeout", mxTimeout.String(), "--read-timeout", "1m", "--stale-age", "90s"},
		Postfix: harness.PostfixOptions{Main: []string{
			"message_size_limit = 209715200",
			"mailbox_size_limit = 0",
			"virtual_mailbox_limit = 0",
			"milter_content_timeout = " + postfixMilterTimeout.String(),
			// Many clients at once, as a busy MX sees.
			"default_process_limit = 50",
			"smtpd_client_connection_count_limit = 0",
			"smtpd_client_connection_rate_limit = 0",
		}},
	})
	return cs
}

// filter returns the filter's text, faulty or not.
func (cs *chaosStack) filter(faulty bool) string {
	return cs.filterHead + "ChaosFaulty = " + strconv.FormatBool(faulty) + "\n\n" + cs.filterBody
}

// setFilter installs the filter, faulty or not, and has md-multiplexor
// reread it.
func (cs *chaosStack) setFilter(faulty bool) error {
	if err := os.WriteFile(cs.Multiplexor.Filter, []byte(cs.filter(faulty)), 0o644); err != nil {
		return err
	}
	return cs.reread()
}

// reread runs md-mx-ctrl reread.
func (cs *chaosStack) reread() error {
	out, err := exec.Command(cs.mxctrl, "-s", cs.Multiplexor.Socket, "reread").CombinedOutput()
	if err != nil {
		return fmt.Errorf("md-mx-ctrl reread: %v: %s", err, out)
	}
	return nil
}

// workers lists the PIDs of md-multiplexor's children (garbleworker).
func (cs *chaosStack) workers() []int {
	return children(cs.Multiplexor.PID)
}

// children lists the live children of pid, from /proc.
func children(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 2 && f[0] != "Z" && f[1] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}

// mountSpool mounts a tmpfs of spoolSize at dir, owned by the defang user
// with mode 0700 as both daemons require, and unmounts it when the test
// ends.
func mountSpool(t *testing.T, dir string, owner harness.Account) string {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	opts := fmt.Sprintf("size=%s,mode=0700,uid=%d,gid=%d", spoolSize, owner.UID, owner.GID)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "chaos-spool", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount -t tmpfs -o %s chaos-spool %s: %v: %s (the campaign needs root with CAP_SYS_ADMIN to give the spool a filesystem it can fill)", opts, dir, err, out)
	}
	t.Cleanup(func() {
		// After the daemons (cleanups run last in, first out).
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("umount %s: %v", dir, err)
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// fillSpool fills the spool's filesystem with one file and returns a
// function that removes it.
func (cs *chaosStack) fillSpool() (func(), error) {
	path := filepath.Join(cs.spool, "chaos-filler")
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Large blocks while they fit, then pages: to the last byte.
	var off int64
	for _, step := range []int64{64 << 20, 1 << 20, 4 << 10} {
		for syscall.Fallocate(int(f.Fd()), 0, off, step) == nil {
			off += step
		}
	}
	if off == 0 {
		os.Remove(path)
		return nil, fmt.Errorf("could not fill %s", cs.spool)
	}
	return func() { os.Remove(path) }, nil
}

// buildGarbleWorker builds garbleworker (static, like md-worker) into a
// directory of the test's own.
func buildGarbleWorker(t *testing.T) string {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		if gobin, err = exec.LookPath("go"); err != nil {
			t.Fatalf("the go command is needed to build garbleworker: %v", err)
		}
	}
	out := filepath.Join(t.TempDir(), "garbleworker")
	cmd := exec.Command(gobin, "build", "-o", out, "./garbleworker")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./garbleworker: %v\n%s", err, b)
	}
	return out
}

// queued counts the messages in Postfix's queue (incoming, active,
// deferred, hold, maildrop, corrupt).
func (cs *chaosStack) queued() int {
	n := 0
	for _, q := range []string{"maildrop", "incoming", "active", "deferred", "hold", "corrupt"} {
		_ = filepath.WalkDir(filepath.Join(cs.Postfix.QueueDir, q), func(_ string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				n++
			}
			return nil
		})
	}
	return n
}

// workDirs counts md-milterd's working directories left in the spool.
func (cs *chaosStack) workDirs() int {
	m, _ := filepath.Glob(filepath.Join(cs.spool, "mdefang-*"))
	return len(m)
}

// restartMultiplexor kills md-multiplexor with SIGKILL and starts it again
// after a second, as systemd's Restart=always with RestartSec=1 does.
func (cs *chaosStack) restartMultiplexor() {
	cs.Multiplexor.Process.Kill(cs.t)
	time.Sleep(time.Second)
	cs.Multiplexor.Process = cs.Multiplexor.Process.Restart(cs.t)
	harness.WaitForUnixSocket(cs.t, cs.Multiplexor.Socket, cs.Multiplexor.Process)
}

// restartMilter does the same with md-milterd.
func (cs *chaosStack) restartMilter() {
	cs.Milter.Process.Kill(cs.t)
	// What the killed md-milterd leaves, the restarted one may remove
	// after --stale-age; nothing else (TestChaos counts).
	cs.orphans += cs.workDirs()
	time.Sleep(time.Second)
	cs.Milter.Process = cs.Milter.Process.Restart(cs.t)
	harness.WaitForTCP(cs.t, cs.Milter.Addr, cs.Milter.Process)
}

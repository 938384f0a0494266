package harness

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Rspamd is rspamd from Debian's rspamd package.
const Rspamd = "/usr/bin/rspamd"

// RspamdPackages is the apt-get argument that installs rspamd.
const RspamdPackages = "rspamd"

// RspamdUser is the account Debian's rspamd package creates, which
// StartRspamd runs rspamd's workers as.
const RspamdUser = "_rspamd"

// RspamdCacheDir is rspamd's DBDIR, kept between runs: rspamd compiles its
// regular expressions for hyperscan there, which takes some 12 s of CPU
// the first time and under a second once cached. Everything else of an
// rspamd started by StartRspamd is the test's.
const RspamdCacheDir = "/var/tmp/md-test-rspamd-dbdir"

// rspamdStartTimeout bounds a cold start (the hyperscan compilation).
const rspamdStartTimeout = 90 * time.Second

// RspamdOptions configures StartRspamd. Zero values take the documented
// defaults.
type RspamdOptions struct {
	// Dir is the test's directory (from NewTestDir); rspamd gets
	// Dir/rspamd. Default: a new test directory.
	Dir string
	// Local holds files for LOCAL_CONFDIR/local.d, by name
	// ("actions.conf": "reject = 10;"). Debian's /etc/rspamd/local.d is
	// not read.
	Local map[string]string
}

// RspamdDaemon is a running rspamd.
type RspamdDaemon struct {
	*Process
	Dir  string // rspamd's directory: rspamd.conf, local/, run/
	Addr string // the normal worker, 127.0.0.1:PORT
	URL  string // "http://" + Addr, for rspamd_check
}

// StartRspamd starts rspamd in the foreground as
//
//	rspamd -f -u _rspamd -g _rspamd -c DIR/rspamd/rspamd.conf
//	  --var=LOCAL_CONFDIR=DIR/rspamd/local --var=DBDIR=RspamdCacheDir
//	  --var=RUNDIR=DIR/rspamd/run --var=LOGDIR=DIR/rspamd/run
//
// with a top-level configuration of its own that includes Debian's
// common.conf, options.inc and worker-normal.inc, logs to its output,
// and runs only the normal worker, on a free port of 127.0.0.1. It works
// offline: map and fuzzy lookups fail in its log, scanning works. It
// waits until the worker answers /ping, and rspamd is stopped by its PID
// (its workers with its process group) when the test ends. A missing
// rspamd fails the test with the apt-get line that installs it.
func StartRspamd(t testing.TB, o RspamdOptions) *RspamdDaemon {
	t.Helper()
	RequireRoot(t)
	RequireProgram(t, Rspamd, RspamdPackages)
	if o.Dir == "" {
		o.Dir = NewTestDir(t)
	}
	owner := LookupUser(t, RspamdUser, RspamdPackages)
	dir := MkdirOwned(t, filepath.Join(o.Dir, "rspamd"), Account{Name: "root"}, 0o755)
	local := MkdirOwned(t, filepath.Join(dir, "local"), Account{Name: "root"}, 0o755)
	localD := MkdirOwned(t, filepath.Join(local, "local.d"), Account{Name: "root"}, 0o755)
	for name, content := range o.Local {
		writeFile(t, filepath.Join(localD, name), content, 0o644)
	}
	run := MkdirOwned(t, filepath.Join(dir, "run"), owner, 0o755)
	MkdirOwned(t, RspamdCacheDir, owner, 0o755)
	r := &RspamdDaemon{Dir: dir, Addr: hostPort(FreePort(t))}
	r.URL = "http://" + r.Addr
	conf := fmt.Sprintf(`.include "$CONFDIR/common.conf"
options {
    pidfile = "$RUNDIR/rspamd.pid";
    .include "$CONFDIR/options.inc"
}
logging {
    type = "console";
    level = "warning";
}
worker "normal" {
    bind_socket = "%s";
    .include "$CONFDIR/worker-normal.inc"
}
`, r.Addr)
	confPath := filepath.Join(dir, "rspamd.conf")
	writeFile(t, confPath, conf, 0o644)
	r.Process = StartProcess(t, "rspamd", filepath.Join(o.Dir, "logs"), Rspamd,
		"-f", "-u", RspamdUser, "-g", RspamdUser, "-c", confPath,
		"--var=LOCAL_CONFDIR="+local, "--var=DBDIR="+RspamdCacheDir, "--var=RUNDIR="+run, "--var=LOGDIR="+run)
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(Scale(rspamdStartTimeout))
	for {
		resp, err := client.Get(r.URL + "/ping")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.TrimSpace(string(b)) == "pong" {
				return r
			}
		}
		if !r.Running() {
			r.reported = true
			t.Fatalf("harness: rspamd exited (%s) before it answered /ping; its output:\n%s", exitStatus(r.waitErr), tail([]byte(r.Log()), 64<<10))
		}
		if time.Now().After(deadline) {
			t.Fatalf("harness: rspamd not answering /ping after %v (last error: %v)", Scale(rspamdStartTimeout), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

package harness

import (
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Clamd is the ClamAV daemon from Debian's clamav-daemon package.
const Clamd = "/usr/sbin/clamd"

// ClamAVPackages is the apt-get argument that installs clamd and the
// clamdscan and clamscan programs.
const ClamAVPackages = "clamav-daemon clamdscan"

// eicarHead and eicarTail are the two halves of the EICAR anti-virus test
// file, kept apart so that no file of the repository holds the whole
// string (a scanner would flag the checkout).
const (
	eicarHead = `X5O!P%@AP[4\PZX54(P^)7CC)7}$`
	eicarTail = `EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`
)

// EICAR returns the 68 bytes of the EICAR test file, assembled at run time.
func EICAR() []byte { return []byte(eicarHead + eicarTail) }

// EICARSignature is the name of the signature StartClamd writes for EICAR;
// EICARVirusName is the name clamd reports for it (an unsigned database's
// names get ".UNOFFICIAL").
const (
	EICARSignature = "MD-Test-EICAR"
	EICARVirusName = EICARSignature + ".UNOFFICIAL"
)

// ClamdOptions configures StartClamd. Zero values take the documented
// defaults.
type ClamdOptions struct {
	// Dir is the test's directory (from NewTestDir); clamd gets Dir/clamd.
	// Default: a new test directory.
	Dir string
	// User is clamd's User setting, the account it runs as once started.
	// Default "clamav" (created by clamav-daemon); "root" lets clamd read
	// files only root can, for SCAN of a working directory that is not
	// shared with clamd's user.
	User string
	// Config holds more clamd.conf lines ("StreamMaxLength 1K").
	Config []string
}

// ClamdDaemon is a running clamd.
type ClamdDaemon struct {
	*Process
	Dir    string // clamd's directory: clamd.conf, db/, tmp/, clamd.sock
	Conf   string // the configuration file, for clamdscan -c too
	DB     string // the signature database directory
	Socket string // LocalSocket
	Addr   string // TCPSocket, as 127.0.0.1:PORT
}

// StartClamd starts clamd in the foreground as
//
//	clamd --config-file=DIR/clamd/clamd.conf
//
// with a configuration of its own: a Unix socket (mode 0666) and a TCP
// port on 127.0.0.1 (a free one), User o.User, SelfCheck 0, its
// temporary files under its directory, and a signature database of one
// .ndb body signature that matches the EICAR bytes anywhere (EICARVirusName),
// written at run time: clamd does not start without signatures, and
// freshclam cannot reach the internet here. It waits until both sockets
// accept connections. clamd is stopped by its PID when the test ends, and
// its directory removed. A missing clamd fails the test with the apt-get
// line that installs it.
func StartClamd(t testing.TB, o ClamdOptions) *ClamdDaemon {
	t.Helper()
	RequireRoot(t)
	RequireProgram(t, Clamd, ClamAVPackages)
	if o.Dir == "" {
		o.Dir = NewTestDir(t)
	}
	if o.User == "" {
		o.User = "clamav"
	}
	owner := Account{Name: "root"}
	if o.User != "root" {
		owner = LookupUser(t, o.User, "clamav-daemon")
	}
	dir := MkdirOwned(t, filepath.Join(o.Dir, "clamd"), owner, 0o755)
	c := &ClamdDaemon{
		Dir:    dir,
		Conf:   filepath.Join(dir, "clamd.conf"),
		DB:     MkdirOwned(t, filepath.Join(dir, "db"), owner, 0o755),
		Socket: filepath.Join(dir, "clamd.sock"),
	}
	tmp := MkdirOwned(t, filepath.Join(dir, "tmp"), owner, 0o700)
	port := FreePort(t)
	c.Addr = hostPort(port)
	writeFile(t, filepath.Join(c.DB, "md-test.ndb"), EICARSignature+":0:*:"+hex.EncodeToString(EICAR())+"\n", 0o644)
	conf := []string{
		"Foreground yes",
		"LocalSocket " + c.Socket,
		"LocalSocketMode 666",
		"TCPSocket " + strconv.Itoa(port),
		"TCPAddr 127.0.0.1",
		"DatabaseDirectory " + c.DB,
		"TemporaryDirectory " + tmp,
		"User " + o.User,
		"SelfCheck 0",
		"LogTime yes",
	}
	conf = append(conf, o.Config...)
	writeFile(t, c.Conf, strings.Join(conf, "\n")+"\n", 0o644)
	c.Process = StartProcess(t, "clamd", filepath.Join(o.Dir, "logs"), Clamd, "--config-file="+c.Conf)
	WaitForUnixSocket(t, c.Socket, c.Process)
	WaitForTCP(t, c.Addr, c.Process)
	return c
}

// ClamdscanConf writes a clamdscan configuration that reaches c (its
// LocalSocket, or its TCP port when tcp), for $Features{'Path:CLAMDCONF'},
// and returns its path.
func (c *ClamdDaemon) ClamdscanConf(t testing.TB, tcp bool) string {
	t.Helper()
	var conf string
	if tcp {
		_, port, _ := strings.Cut(c.Addr, ":")
		conf = fmt.Sprintf("TCPSocket %s\nTCPAddr 127.0.0.1\n", port)
	} else {
		conf = "LocalSocket " + c.Socket + "\n"
	}
	path := filepath.Join(c.Dir, "clamdscan.conf")
	if tcp {
		path = filepath.Join(c.Dir, "clamdscan-tcp.conf")
	}
	writeFile(t, path, conf, 0o644)
	return path
}

package harness

// nsd.go: an authoritative DNS server (NSD, from Debian's nsd package) of
// the test's own, on 127.0.0.1 at a free port, serving the zones the test
// writes, for the tests of the DNS checks (DNSBL, SPF, DKIM, DMARC ...);
// Hang and Resume make it a DNS server that stops answering and comes back.

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// NSDProgram is the authoritative DNS server of Debian's nsd package;
// NSDCheckzone and NSDCheckconf are its checkers.
const (
	NSDProgram   = "/usr/sbin/nsd"
	NSDCheckzone = "/usr/sbin/nsd-checkzone"
	NSDCheckconf = "/usr/sbin/nsd-checkconf"
)

// NSDPackages is the apt-get argument that installs nsd.
const NSDPackages = "nsd"

// nsdQueryTimeout bounds one query of StartNSD's and Resume's readiness
// checks; the checks are retried up to Scale(StartTimeout).
const nsdQueryTimeout = 500 * time.Millisecond

// NSDOptions configures StartNSD.
type NSDOptions struct {
	// Dir is the test's directory (from NewTestDir); nsd gets Dir/nsd
	// (Dir/nsd-2, ... for a second server in the same directory).
	// Default: a new test directory.
	Dir string
	// Zones maps a zone's origin ("dnsbl.test.", a trailing dot is
	// added if missing) to its zone file's text, in the format of RFC
	// 1035 that nsd-checkzone reads. Names in it are relative to the
	// origin unless the text sets its own $ORIGIN. Each zone needs an SOA
	// record; an NS record keeps nsd-checkzone quiet.
	Zones map[string]string
}

// NSD is a running nsd.
type NSD struct {
	*Process
	Addr string // 127.0.0.1:PORT, UDP and TCP
	Port int
	Dir  string // nsd's directory: nsd.conf, zones/, xfrd.state, nsd.pid
	Conf string // the configuration file

	zones []string // the origins, sorted
}

// StartNSD starts nsd in the foreground as
//
//	nsd -d -c DIR/nsd/nsd.conf
//
// with a configuration of its own: it listens on 127.0.0.1 only, at a
// port that was free for both UDP and TCP, runs as the user that runs the
// test (username ""), without a chroot, a compiled database, remote
// control or zone transfers, keeps its state (xfrd.state, pid file) in its
// directory and writes its log to the process's log. Each zone of o.Zones
// is written to DIR/nsd/zones/ORIGIN.zone and checked with nsd-checkzone
// first: a zone it rejects fails the test with its output. StartNSD waits
// until nsd answers an authoritative SOA for every zone (or, with no zone,
// answers at all). nsd forks (a zone-transfer daemon and a server child):
// all stay in the process group of the one started, which is stopped by its
// PID, its children with its group, when the test ends. A missing nsd fails
// the test with the apt-get line that installs it.
func StartNSD(t testing.TB, o NSDOptions) *NSD {
	t.Helper()
	for _, p := range []string{NSDProgram, NSDCheckzone, NSDCheckconf} {
		RequireProgram(t, p, NSDPackages)
	}
	if o.Dir == "" {
		o.Dir = NewTestDir(t)
	}
	name := "nsd"
	for i := 2; ; i++ {
		if _, err := os.Stat(filepath.Join(o.Dir, name)); os.IsNotExist(err) {
			break
		}
		name = "nsd-" + strconv.Itoa(i)
	}
	dir := filepath.Join(o.Dir, name)
	zonesDir := filepath.Join(dir, "zones")
	if err := os.MkdirAll(zonesDir, 0o755); err != nil {
		t.Fatalf("harness: %v", err)
	}
	n := &NSD{Dir: dir, Conf: filepath.Join(dir, "nsd.conf"), Port: freeUDPTCPPort(t)}
	n.Addr = hostPort(n.Port)

	var zoneConf strings.Builder
	files := map[string]string{} // origin -> zone file
	texts := map[string]string{} // origin -> zone file text
	for origin, text := range o.Zones {
		fqdn := dns.Fqdn(origin)
		if _, dup := files[fqdn]; dup {
			t.Fatalf("harness: nsd: zone %s given twice", fqdn)
		}
		if _, ok := dns.IsDomainName(fqdn); !ok || strings.ContainsAny(fqdn, "/\"\\ \t\n") {
			t.Fatalf("harness: nsd: %q is not a zone name StartNSD can write", origin)
		}
		base := strings.TrimSuffix(fqdn, ".")
		if base == "" {
			base = "root"
		}
		file := filepath.Join(zonesDir, base+".zone")
		writeFile(t, file, text, 0o644)
		files[fqdn] = file
		texts[fqdn] = text
		n.zones = append(n.zones, fqdn)
	}
	slices.Sort(n.zones)
	for _, z := range n.zones {
		out, err := exec.Command(NSDCheckzone, z, files[z]).CombinedOutput()
		if err != nil {
			t.Fatalf("harness: nsd-checkzone %s %s: %s:\n%s\nzone file:\n%s", z, files[z], exitStatus(err), out, numbered(texts[z]))
		}
		fmt.Fprintf(&zoneConf, "\nzone:\n\tname: %q\n\tzonefile: %q\n", z, files[z])
	}

	logDir := filepath.Join(o.Dir, "logs")
	conf := fmt.Sprintf(`# nsd.conf written by the test harness (StartNSD)
server:
	ip-address: 127.0.0.1@%[1]d
	port: %[1]d
	do-ip4: yes
	do-ip6: no
	server-count: 1
	username: ""
	chroot: ""
	zonesdir: %[2]q
	database: ""
	zonelistfile: %[3]q
	xfrdfile: %[4]q
	xfrdir: %[5]q
	pidfile: %[6]q
	logfile: %[7]q
	zonefiles-write: 0
	verbosity: 1
	hide-version: yes

remote-control:
	control-enable: no
%[8]s`, n.Port, dir, filepath.Join(dir, "zone.list"), filepath.Join(dir, "xfrd.state"), dir,
		filepath.Join(dir, "nsd.pid"), filepath.Join(logDir, name+".log"), zoneConf.String())
	writeFile(t, n.Conf, conf, 0o644)
	if out, err := exec.Command(NSDCheckconf, n.Conf).CombinedOutput(); err != nil {
		t.Fatalf("harness: nsd-checkconf %s: %s:\n%s\nnsd.conf:\n%s", n.Conf, exitStatus(err), out, numbered(conf))
	}

	n.Process = StartProcess(t, name, logDir, NSDProgram, "-d", "-c", n.Conf)
	waitFor(t, "nsd answering at "+n.Addr, n.Process, n.answers)
	return n
}

// answers queries the SOA of every zone over UDP and reports whether each
// came back authoritative, NOERROR, with the SOA; with no zones, it asks
// for the root's SOA and takes any reply (REFUSED).
func (n *NSD) answers() error {
	c := &dns.Client{Net: "udp", Timeout: nsdQueryTimeout}
	if len(n.zones) == 0 {
		m := new(dns.Msg).SetQuestion(".", dns.TypeSOA)
		_, _, err := c.Exchange(m, n.Addr)
		return err
	}
	for _, z := range n.zones {
		m := new(dns.Msg).SetQuestion(z, dns.TypeSOA)
		r, _, err := c.Exchange(m, n.Addr)
		if err != nil {
			return fmt.Errorf("SOA %s: %w", z, err)
		}
		if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) == 0 {
			return fmt.Errorf("SOA %s: %s, aa=%v, %d answers", z, dns.RcodeToString[r.Rcode], r.Authoritative, len(r.Answer))
		}
	}
	return nil
}

// Resume continues nsd after Hang (Process.Hang) and waits until it
// answers an authoritative SOA for every zone again.
func (n *NSD) Resume(t testing.TB) {
	t.Helper()
	n.Process.Resume(t)
	waitFor(t, "nsd answering at "+n.Addr+" again", n.Process, n.answers)
}

// freeUDPTCPPort returns a port of 127.0.0.1 that was free for both TCP
// and UDP a moment ago.
func freeUDPTCPPort(t testing.TB) int {
	t.Helper()
	var lastErr error
	for range 50 {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("harness: finding a free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp4", hostPort(port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
		lastErr = err
	}
	t.Fatalf("harness: no port free for both TCP and UDP on 127.0.0.1: %v", lastErr)
	return 0
}

// numbered returns text with line numbers, for error messages that quote
// a configuration or zone file.
func numbered(text string) string {
	var b strings.Builder
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, line)
	}
	return b.String()
}

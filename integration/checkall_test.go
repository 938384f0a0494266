package integration

import (
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// md_check_all (worker/filter/checkall.go, docs/integrations.md) against
// the real clamd, spamd and rspamd, each behind delayProxy, which holds
// the daemon's first reply byte on every connection back: the filter
// (testdata/checkall.lua) runs each check alone, then all three at once,
// and the concurrent call must take about the slowest check's time, not
// the sum.

// delayProxy listens on a free port of 127.0.0.1 and forwards every
// connection to target (TCP) both ways, holding the first bytes the
// target sends on each connection back by delay. It returns its address;
// it stops when the test ends.
func delayProxy(t *testing.T, target string, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			track(client)
			track(server)
			wg.Add(2)
			go func() { // client to daemon
				defer wg.Done()
				io.Copy(server, client)
				server.(*net.TCPConn).CloseWrite()
			}()
			go func() { // daemon to client, the first bytes late
				defer wg.Done()
				defer client.Close()
				defer server.Close()
				buf := make([]byte, 32*1024)
				n, err := server.Read(buf)
				if n > 0 {
					time.Sleep(delay)
					if _, werr := client.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err == nil {
					io.Copy(client, server)
				}
				client.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// checkAllMail is one text part holding both EICAR and GTUBE: a virus
// for clamd, spam for spamd and rspamd.
func checkAllMail() *harness.Message {
	return &harness.Message{
		From: "tester@" + harness.Domain, To: "alice@" + harness.Domain, Subject: "all at once",
		Body: "Hello Alice,\n\n" + harness.GTUBE() + "\n\n" + string(harness.EICAR()) + "\n\nRegards,\nthe tester\n",
	}
}

var tookLine = regexp.MustCompile(`alone ([\d.]+) ([\d.]+) ([\d.]+) all ([\d.]+) \(([\d.]+) ([-\d.]+) ([\d.]+)\)`)

// TestCheckAllConcurrent: behind delays of 0.5 s per clamd connection
// (its scan makes two: PING, INSTREAM), 0.75 s per spamd connection
// (SYMBOLS, REPORT) and 2 s for rspamd's one request, the checks alone
// take about 1, 1.5 and 2 s; md_check_all of all three gives EICAR's
// virus, GTUBE's spam and rspamd's reject within 20% of the slowest check
// (alone, and within the combined call), where running them in turn would
// take about 4.5 s.
func TestCheckAllConcurrent(t *testing.T) {
	dir := harness.NewTestDir(t)
	c := harness.StartClamd(t, harness.ClamdOptions{Dir: dir})
	s := harness.StartSpamd(t, harness.SpamdOptions{Dir: dir, Config: []string{"required_score 5.0"}})
	r := harness.StartRspamd(t, harness.RspamdOptions{Dir: dir})

	clamdAddr := delayProxy(t, c.Addr, 500*time.Millisecond)
	spamdAddr := delayProxy(t, s.Addr, 750*time.Millisecond)
	rspamdAddr := delayProxy(t, r.Addr, 2*time.Second)
	spamdHost, spamdPort, _ := net.SplitHostPort(spamdAddr)
	filter := withSettings(t, "checkall.lua", dir, "checkall.lua",
		"ClamdSock = "+lua(clamdAddr), "SpamdHost = "+lua(spamdHost), "SpamdPort = "+spamdPort,
		"RspamdURL = "+lua("http://"+rspamdAddr))

	res := runMDWorkerTest(t, dir, filter, checkAllMail())
	for _, want := range []string{
		"X-Check-Virus: virus quarantine " + harness.EICARVirusName,
		"X-Check-VirusName: " + harness.EICARVirusName,
		"X-Check-Rspamd: reject true",
	} {
		res.has(t, want)
	}
	if !regexp.MustCompile(`X-Check-Spam: (9\d\d|1\d\d\d)\.\d/5\.0 true \S*GTUBE`).MatchString(res.out) {
		t.Errorf("spamd's verdict on GTUBE missing:\n%s\n%s", res.out, res.log)
	}
	// Four calls per check: alone, then together.
	for _, call := range []string{"call:      clamd (message): virus " + harness.EICARVirusName, "call:      spamd (message): ", `call:      rspamd (message): `} {
		if n := strings.Count(res.out, call); n != 2 {
			t.Errorf("%d lines %q, want 2:\n%s", n, call, res.out)
		}
	}

	m := tookLine.FindStringSubmatch(res.out)
	if m == nil {
		t.Fatalf("no X-Check-Took header:\n%s\n%s", res.out, res.log)
	}
	var v [7]float64
	for i := range v {
		v[i], _ = strconv.ParseFloat(m[i+1], 64)
	}
	virus, spam, rspamd, all := v[0], v[1], v[2], v[3]
	slowest := max(virus, spam, rspamd)
	t.Logf("alone: clamd %.3f s, spamd %.3f s, rspamd %.3f s (sum %.3f s); md_check_all %.3f s (clamd %.3f, spamd %.3f, rspamd %.3f)",
		virus, spam, rspamd, virus+spam+rspamd, all, v[4], v[5], v[6])
	for i, min := range []float64{1.0, 1.5, 2.0} {
		if v[i] < min {
			t.Errorf("check %d alone took %.3f s, less than its delays' %.1f s: the proxy is not in the way", i, v[i], min)
		}
	}
	// The combined call against its own checks (the same daemons' state:
	// a check alone can be slower, its daemon still warming up): its wall
	// time is the slowest of them, within 20%, and well under their sum.
	inside := max(v[4], v[5], v[6])
	if all > inside*1.2 || all > slowest*1.2 {
		t.Errorf("md_check_all took %.3f s; its slowest check %.3f s, the slowest alone %.3f s: more than 20%% over",
			all, inside, slowest)
	}
	if sum := v[4] + v[5] + v[6]; all > sum*0.8 {
		t.Errorf("md_check_all took %.3f s, its checks %.3f s together: they did not run side by side", all, sum)
	}
}

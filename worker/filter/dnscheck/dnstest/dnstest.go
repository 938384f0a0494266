// Package dnstest is a stand-in name server for the unit tests of the
// packages that use DNS (package dnscheck, the Lua bindings): on a UDP
// socket of 127.0.0.1 it answers from the records it is given, NXDOMAIN for
// a name it has nothing for, SERVFAIL for every name under servfail.test
// and nothing at all under hang.test. The real server (NSD) is exercised by
// the integration module's tests. It is for tests only.
package dnstest

import (
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// Server is a running stand-in name server.
type Server struct {
	Addr    string // 127.0.0.1:PORT
	queries atomic.Int64
}

// Queries is how many questions the server has received.
func (s *Server) Queries() int64 { return s.queries.Load() }

// Start serves records (each in presentation form, "name. TYPE data")
// until the test ends.
func Start(tb testing.TB, records ...string) *Server {
	tb.Helper()
	rrs := map[string][]dns.RR{}
	for _, s := range records {
		rr, err := dns.NewRR(s)
		if err != nil {
			tb.Fatalf("%q: %v", s, err)
		}
		k := strings.ToLower(rr.Header().Name)
		rrs[k] = append(rrs[k], rr)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Addr: pc.LocalAddr().String()}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		s.queries.Add(1)
		name := strings.ToLower(q.Question[0].Name)
		if strings.HasSuffix(name, "hang.test.") {
			return
		}
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		switch {
		case strings.HasSuffix(name, "servfail.test."):
			m.Rcode = dns.RcodeServerFailure
		case rrs[name] == nil:
			m.Rcode = dns.RcodeNameError
		default:
			for _, rr := range rrs[name] {
				if rr.Header().Rrtype == q.Question[0].Qtype || rr.Header().Rrtype == dns.TypeCNAME {
					m.Answer = append(m.Answer, rr)
				}
			}
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	tb.Cleanup(func() { srv.Shutdown() })
	return s
}

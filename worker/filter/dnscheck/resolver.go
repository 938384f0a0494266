package dnscheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Resolver asks the configured name servers and caches every answer for
// its own life. It is safe for concurrent use (the _multi lookups query in
// parallel).
type Resolver struct {
	cfg     Config
	servers []string
	err     error // why there is no server

	mu    sync.Mutex
	cache map[cacheKey]*answer
}

type cacheKey struct {
	name  string
	qtype uint16
}

// answer is a query's outcome: the response, or the reason there is none.
type answer struct {
	done chan struct{}
	msg  *dns.Msg
	err  error
}

// ErrTimeout is a query that no server answered in time.
var ErrTimeout = errors.New("dns: no answer in time")

// New returns a Resolver for cfg.
func New(cfg Config) *Resolver {
	cfg = cfg.withDefaults()
	r := &Resolver{cfg: cfg, cache: map[cacheKey]*answer{}}
	servers := cfg.Servers
	if len(servers) == 0 {
		cc, err := dns.ClientConfigFromFile(ResolvConf)
		if err != nil {
			r.err = fmt.Errorf("dns: no name server: %s unreadable (%v) and $%s unset", ResolvConf, err, EnvServers)
			return r
		}
		for _, s := range cc.Servers {
			servers = append(servers, net.JoinHostPort(s, cc.Port))
		}
	}
	for _, s := range servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			s = net.JoinHostPort(strings.Trim(s, "[]"), "53")
		}
		r.servers = append(r.servers, s)
	}
	if len(r.servers) == 0 {
		r.err = fmt.Errorf("dns: no name server configured")
	}
	return r
}

// Servers returns the name servers asked, in order.
func (r *Resolver) Servers() []string { return r.servers }

// Query asks for name's records of type qtype (dns.TypeA ...) and returns
// the response, whatever its response code, or an error when no server
// answered (ErrTimeout when the time ran out). Answers are cached: the
// same question is asked once per Resolver.
func (r *Resolver) Query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	k := cacheKey{strings.ToLower(dns.Fqdn(name)), qtype}
	r.mu.Lock()
	a, ok := r.cache[k]
	if !ok {
		a = &answer{done: make(chan struct{})}
		r.cache[k] = a
	}
	r.mu.Unlock()
	if ok {
		select {
		case <-a.done:
			return a.msg, a.err
		case <-ctx.Done():
			return nil, ErrTimeout
		}
	}
	a.msg, a.err = r.exchange(ctx, k.name, qtype)
	close(a.done)
	if a.err != nil && ctx.Err() != nil {
		// A question cut short by this caller's deadline may be asked
		// again by another.
		r.mu.Lock()
		delete(r.cache, k)
		r.mu.Unlock()
	}
	return a.msg, a.err
}

// exchange asks each server in turn until one answers; a truncated UDP
// answer is asked again over TCP.
func (r *Resolver) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	if r.err != nil {
		return nil, r.err
	}
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.RecursionDesired = true
	q.SetEdns0(1232, false)
	start := time.Now()
	var last error
	for _, server := range r.servers {
		if ctx.Err() != nil {
			break
		}
		resp, err := r.exchangeOne(ctx, q, server, "udp")
		if err == nil && resp.Truncated {
			resp, err = r.exchangeOne(ctx, q, server, "tcp")
		}
		if err == nil {
			r.noteQuery(qtype, dns.RcodeToString[resp.Rcode], start)
			return resp, nil
		}
		last = err
	}
	if last == nil || ctx.Err() != nil || isTimeout(last) {
		r.noteQuery(qtype, "timeout", start)
		return nil, ErrTimeout
	}
	r.noteQuery(qtype, "error", start)
	return nil, last
}

func (r *Resolver) exchangeOne(ctx context.Context, q *dns.Msg, server, network string) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: r.cfg.Timeout}
	qctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	resp, _, err := c.ExchangeContext(qctx, q, server)
	if err == nil && resp.Id != q.Id {
		err = errors.New("dns: answer to another question")
	}
	return resp, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

func (r *Resolver) noteQuery(qtype uint16, outcome string, start time.Time) {
	if r.cfg.OnQuery != nil {
		r.cfg.OnQuery(dns.TypeToString[qtype], outcome, time.Since(start))
	}
}

// rcode is a response's code as Net::DNS names it, "SERVFAIL" for none.
func rcode(m *dns.Msg, err error) string {
	if err != nil || m == nil {
		return "SERVFAIL"
	}
	if s, ok := dns.RcodeToString[m.Rcode]; ok {
		return s
	}
	return "SERVFAIL"
}

// answered reports whether Net::DNS's query() would return a packet: a
// NOERROR response with at least one answer record.
func answered(m *dns.Msg, err error) bool {
	return err == nil && m != nil && m.Rcode == dns.RcodeSuccess && len(m.Answer) > 0
}

package proto

import (
	"math"
	"strings"
	"testing"
)

func TestCallLines(t *testing.T) {
	for _, c := range []Call{
		{"clamd", CallHit, 0.012345},
		{"spamd", CallClean, 0},
		{"rspamd", CallError, 30},
		{"dns_a", CallClean, 999999},
	} {
		line := AppendCall(nil, c)
		if len(line) > CallLineMax || line[len(line)-1] != '\n' {
			t.Errorf("AppendCall(%+v) = %q: too long or no newline", c, line)
		}
		got, err := ParseCall(line)
		if err != nil || got.Integration != c.Integration || got.Result != c.Result || math.Abs(got.Seconds-c.Seconds) > 1e-6 {
			t.Errorf("ParseCall(%q) = %+v, %v; want %+v", line, got, err, c)
		}
	}
	if got := string(AppendCall(nil, Call{"clamd", CallHit, 0.5})); got != "call clamd hit 0.500000\n" {
		t.Errorf("line %q", got)
	}
}

func TestCallLinesRejected(t *testing.T) {
	for _, c := range []Call{
		{"", CallHit, 1},
		{"ClamD", CallHit, 1},
		{"clamd x", CallHit, 1},
		{strings.Repeat("a", 33), CallHit, 1},
		{"clamd", "found", 1},
		{"clamd", CallHit, -1},
		{"clamd", CallHit, math.NaN()},
		{"clamd", CallHit, math.Inf(1)},
	} {
		if b := AppendCall([]byte("x"), c); string(b) != "x" {
			t.Errorf("AppendCall(%+v) wrote %q", c, b)
		}
	}
	for _, line := range []string{
		"", "\n", "call clamd hit\n", "call clamd hit 1 2\n", "calls clamd hit 1\n",
		"call clamd hit one\n", "call clamd hit NaN\n", "call clamd hit 1e9\n",
		"call clamd  hit 1\n", "call cl\x00md hit 1\n", "call clamd HIT 1\n",
		"call " + strings.Repeat("a", 200) + " hit 1\n",
	} {
		if c, err := ParseCall([]byte(line)); err == nil {
			t.Errorf("ParseCall(%q) = %+v, want an error", line, c)
		}
	}
}

func FuzzParseCall(f *testing.F) {
	f.Add([]byte("call clamd hit 0.012000\n"))
	f.Add([]byte("call spamd error 30\n"))
	f.Fuzz(func(t *testing.T, line []byte) {
		c, err := ParseCall(line)
		if err != nil {
			return
		}
		again, err := ParseCall(AppendCall(nil, c))
		if err != nil || again.Integration != c.Integration || again.Result != c.Result || math.Abs(again.Seconds-c.Seconds) > 1e-6 {
			t.Fatalf("%q parsed as %+v does not round-trip: %+v, %v", line, c, again, err)
		}
	})
}

func TestDNSQueryLines(t *testing.T) {
	q := DNSQuery{Type: "TXT", Outcome: "NXDOMAIN", Seconds: 0.0025}
	line := AppendDNSQuery(nil, q)
	if string(line) != "dns TXT NXDOMAIN 0.002500\n" {
		t.Errorf("line %q", line)
	}
	if got, err := ParseDNSQuery(line); err != nil || got != q {
		t.Errorf("ParseDNSQuery(%q) = %+v, %v", line, got, err)
	}
	for _, bad := range []string{"dns txt NOERROR 1\n", "dns A NO-ERROR 1\n", "dns A timeout\n", "call A timeout 1\n", "dns  A timeout 1\n",
		"dns ABCDEFGHIJK timeout 1\n", "dns A " + strings.Repeat("x", 17) + " 1\n"} {
		if q, err := ParseDNSQuery([]byte(bad)); err == nil {
			t.Errorf("ParseDNSQuery(%q) = %+v", bad, q)
		}
	}
	if b := AppendDNSQuery([]byte("x"), DNSQuery{Type: "a", Outcome: "x"}); string(b) != "x" {
		t.Errorf("invalid query written: %q", b)
	}
}

func FuzzParseDNSQuery(f *testing.F) {
	f.Add([]byte("dns A NOERROR 0.001000\n"))
	f.Fuzz(func(t *testing.T, line []byte) {
		q, err := ParseDNSQuery(line)
		if err != nil {
			return
		}
		again, err := ParseDNSQuery(AppendDNSQuery(nil, q))
		if err != nil || again.Type != q.Type || again.Outcome != q.Outcome || math.Abs(again.Seconds-q.Seconds) > 1e-6 {
			t.Fatalf("%q parsed as %+v does not round-trip: %+v, %v", line, q, again, err)
		}
	})
}

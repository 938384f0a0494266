package bimi

import (
	"context"
	"errors"
	"testing"
)

func lookupFrom(recs map[string][]string) LookupTXT {
	return func(_ context.Context, name string) ([]string, error) {
		if r, ok := recs[name]; ok {
			return r, nil
		}
		return nil, errors.New("no such host")
	}
}

func TestBIMI(t *testing.T) {
	lookup := lookupFrom(map[string][]string{
		"default._bimi.example.com": {"unrelated", "v=BIMI1; l=https://example.com/logo.svg ; a=https://example.com/vmc.pem"},
		"brand._bimi.example.com":   {"v=BIMI1; l=https://example.com/brand.svg"},
		"default._bimi.nologo.com":  {"v=BIMI1; l=; a=https://x/vmc.pem"},
	})
	ctx := context.Background()
	var logged []string
	log := func(p, m string) { logged = append(logged, p+": "+m) }
	r, ok := Lookup(ctx, lookup, "example.com", "", log)
	if !ok || r.Logo != "https://example.com/logo.svg" || r.VMC != "https://example.com/vmc.pem" || r.Version != "BIMI1" {
		t.Errorf("lookup: %+v %v", r, ok)
	}
	if r, ok := Lookup(ctx, lookup, "example.com", "brand", log); !ok || r.Logo != "https://example.com/brand.svg" || r.HasVMC {
		t.Errorf("selector brand: %+v %v", r, ok)
	}
	if _, ok := Lookup(ctx, lookup, "example.com", "bad selector!", log); !ok || len(logged) != 1 {
		t.Errorf("a bad selector falls back to default, logged: %v %q", ok, logged)
	}
	if _, ok := Lookup(ctx, lookup, "none.com", "", log); ok {
		t.Error("no record found one")
	}
	for _, c := range []struct{ domain, dmarc, policy, want string }{
		{"example.com", "pass", "reject", "pass"},
		{"example.com", "pass", "Quarantine", "pass"},
		{"example.com", "pass", "none", "fail"},
		{"example.com", "fail", "reject", "fail"},
		{"nologo.com", "pass", "reject", "fail"},
		{"none.com", "pass", "reject", "fail"},
	} {
		if got := Verify(ctx, lookup, c.domain, c.dmarc, c.policy, "", log); got != c.want {
			t.Errorf("md_bimi_verify(%s, %s, %s) = %s, want %s", c.domain, c.dmarc, c.policy, got, c.want)
		}
	}
	for in, want := range map[string]string{"v=BIMI1; s=brand1;": "brand1", "v=BIMI1;": "default", "s=x": "default", "": "default"} {
		if got := SelectorFromHeader(in); got != want {
			t.Errorf("md_bimi_get_selector(%q) = %q, want %q", in, got, want)
		}
	}
}

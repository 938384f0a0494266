package dkim

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testMsg = "From: Alice <alice@example.com>\nTo: bob@example.net\nSubject:  Hello   there \n" +
	"Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <x@example.com>\nX-Other: folded\n  value\n" +
	"MIME-Version: 1.0\nContent-Type: text/plain\n\nHello  world \t\n\n line two\n\n\n"

// keyTXT is the DNS record of pub.
func keyTXT(t *testing.T, pub any) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k)
	}
	t.Fatalf("key %T", pub)
	return ""
}

func lookupFrom(records map[string]string) LookupTXT {
	return func(_ context.Context, name string) ([]string, error) {
		if name == "hang._domainkey.example.com" {
			return nil, &net.DNSError{Err: "i/o timeout", Name: name, IsTimeout: true}
		}
		if r, ok := records[name]; ok {
			return []string{r}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
}

// TestSignVerify: signatures made by Sign verify, for every algorithm and
// canonicalization, with and without wrapping; a changed body or signed
// header fails; a missing key is invalid, a key DNS does not answer for a
// temporary error.
func TestSignVerify(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	records := map[string]string{
		"rsa._domainkey.example.com": keyTXT(t, &rsaKey.PublicKey),
		"ed._domainkey.example.com":  keyTXT(t, edKey.Public()),
	}
	lookup := lookupFrom(records)
	now := time.Now()
	for _, algo := range []string{"rsa-sha256", "rsa-sha1", "ed25519-sha256"} {
		for _, method := range []string{"relaxed/simple", "relaxed", "simple/simple", "relaxed/relaxed", "simple/relaxed"} {
			for _, noWrap := range []bool{false, true} {
				var key crypto.Signer = rsaKey
				sel := "rsa"
				if algo == "ed25519-sha256" {
					key, sel = edKey, "ed"
				}
				name, value, err := Sign(key, []byte(testMsg), SignOptions{Algorithm: algo, Method: method, Domain: "example.com", Selector: sel, NoWrap: noWrap})
				if err != nil || name != "DKIM-Signature" {
					t.Fatalf("%s %s: %q, %v", algo, method, name, err)
				}
				if noWrap == strings.Contains(value, "\n") {
					t.Errorf("%s %s wrap %v: %q", algo, method, !noWrap, value)
				}
				signed := "DKIM-Signature: " + value + "\n" + testMsg
				r := Verify(context.Background(), []byte(signed), lookup, now)
				if r.Result != "pass" || r.Domain != "example.com" || !r.HasKey {
					t.Errorf("%s %s wrap %v: %+v", algo, method, !noWrap, r)
				}
				for what, changed := range map[string]string{
					"body":    strings.Replace(signed, "line two", "line 2", 1),
					"subject": strings.Replace(signed, "Hello   there", "Hello there!", 1),
				} {
					if r := Verify(context.Background(), []byte(changed), lookup, now); r.Result != "fail" {
						t.Errorf("%s %s: changed %s: %+v", algo, method, what, r)
					}
				}
			}
		}
	}
}

// TestVerifyOutcomes: no signature, a missing key, a key DNS does not
// answer for, a malformed signature, and the best of several.
func TestVerifyOutcomes(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	lookup := lookupFrom(map[string]string{"rsa._domainkey.example.com": keyTXT(t, &rsaKey.PublicKey)})
	_, good, err := Sign(rsaKey, []byte(testMsg), SignOptions{Algorithm: "rsa-sha256", Domain: "example.com", Selector: "rsa"})
	if err != nil {
		t.Fatal(err)
	}
	_, missing, _ := Sign(rsaKey, []byte(testMsg), SignOptions{Algorithm: "rsa-sha256", Domain: "example.com", Selector: "gone"})
	_, hung, _ := Sign(rsaKey, []byte(testMsg), SignOptions{Algorithm: "rsa-sha256", Domain: "example.com", Selector: "hang"})
	ctx := context.Background()
	for _, c := range []struct {
		name, sigs string
		want       []any
	}{
		{"none", "", []any{"none", nil, 0, nil, nil}},
		{"missing key", "DKIM-Signature: " + missing + "\n", []any{"invalid", nil, 0, nil, nil}},
		{"hung DNS", "DKIM-Signature: " + hung + "\n", []any{"temperror", nil, 0, nil, nil}},
		{"malformed", "DKIM-Signature: v=1; a=rsa-sha256; nonsense\n", []any{"invalid", nil, 0, nil, nil}},
		{"unsupported version", "DKIM-Signature: v=2; a=rsa-sha256; d=example.com; s=rsa; h=from; bh=; b=\n", []any{"invalid", nil, 0, nil, nil}},
		{"best: a later pass wins", "DKIM-Signature: " + missing + "\nDKIM-Signature: " + good + "\n", nil},
	} {
		r := Verify(ctx, []byte(c.sigs+testMsg), lookup, time.Now())
		got := r.Values()
		if c.want == nil {
			if r.Result != "pass" || r.KeySize != 1024 || r.Domain != "example.com" || stripSpace(r.B) != stripSpace(good[strings.Index(good, "; b=")+4:]) {
				t.Errorf("%s: %q", c.name, got)
			}
			continue
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: %q, want %q (%s)", c.name, got, c.want, r.Detail)
				break
			}
		}
	}
}

// TestWrapShape: with wrapping, no line of the value is longer than the
// margin except the first, the b= value breaks anywhere and h= before a
// colon; without, it is one line.
func TestWrapShape(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, v, err := Sign(rsaKey, []byte(testMsg), SignOptions{Algorithm: "rsa-sha256", Domain: "a-long-domain-name.example.com", Selector: "selector2024"})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(v, "\n")
	if len(lines) < 5 {
		t.Fatalf("%d lines: %q", len(lines), v)
	}
	for i, l := range lines[1:] {
		if !strings.HasPrefix(l, "\t") || column(0, l) > wrapMargin {
			t.Errorf("line %d: %q", i+2, l)
		}
	}
	if !strings.Contains(v, "\n\t:") && !strings.Contains(v, "h=\n\t") {
		t.Errorf("h= not folded at a colon: %q", v)
	}
}

func TestParseKey(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
	der, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	pkcs8 := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	seed := []byte(base64.StdEncoding.EncodeToString(ed.Seed()) + "\n")
	for name, b := range map[string][]byte{"pkcs1": pkcs1, "pkcs8": pkcs8, "ed25519 seed": seed} {
		if _, err := ParseKey(b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ParseKey([]byte("not a key")); err == nil {
		t.Error("garbage accepted")
	}
}

// TestKeyCache: a key file is read once, and again when it changes.
func TestKeyCache(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 1024)
	k2, _ := rsa.GenerateKey(rand.Reader, 2048)
	path := filepath.Join(t.TempDir(), "key.pem")
	write := func(k *rsa.PrivateKey, mtime time.Time) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(path, mtime, mtime)
	}
	var kc KeyCache
	write(k1, time.Unix(1_700_000_000, 0))
	a, err := kc.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := kc.Load(path)
	if a != b {
		t.Error("the key was read twice")
	}
	write(k2, time.Unix(1_700_000_100, 0))
	c, _ := kc.Load(path)
	if c == a || c.(*rsa.PrivateKey).N.BitLen() != 2048 {
		t.Error("a changed key file was not read again")
	}
	if _, err := kc.Load(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("a missing file gave a key")
	}
}

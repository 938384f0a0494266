package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// arcKey is a 1024-bit RSA key for the golden values below.
const arcKey = `-----BEGIN RSA PRIVATE KEY-----
MIICXQIBAAKBgQDDasLMx2B3zMgk6OpMmwurxr4i6CREpELmCXWhuOhw2so27sSe
z/dSl1bPMyxnoSOP4OwSLPs6BY02qtC6ukuOURACHzwwnLwnVVGxfrhYGa0EZ7d/
EFzi6MtdthsHzkywYlQoaH0cK7wwGb2sp6pI07ocoATNwNDleQknoRL+zQIDAQAB
AoGAAjKUKDthwVcjNQ8Ne3kO44qjnr7fkYoLWozmrr/mlUZQmdeLjIGoNVyQVFot
+KhePwL3hKjO1nMziFbZbBAmQ1lmfM/IMdtfKDzFRX/OH4WavD/CvX4fWeykpcUE
Ofu5UGe9Ny+1wt2+dyCxUlRV+h1a32rnHguz95wQeNe13wECQQD1u2loZy2iRuxz
cdfmZM5Nu1yWOmzpGTiBgkK6WdpAGEsxPHTZpJWE7cwkWRWJytJzp3ZAKfWFlrdz
sHaclw1BAkEAy5UhemPmTG25WCU6IgJ9u+BWtmYOuj/UFoAw+8GGftFawK56niXJ
Kwhxc1OP8PUwcRj7NPHJtHMJiaj2bMoyjQJBAI2ONY2QCmi2BJYIWb/+CB4dNZvQ
8lZhUfzBBiGFi0Vq+T3WvtV1izB1MCksLE0hSpSXPnZ99VLMXMfHOrzAA0ECQQDK
hSlPoo+YGlMV77qb2JSR0IMSYgZmm1Z1p8KSv5r3D3bTVP7f0kED0RtjGY6IqrEs
4SgNLDZ2jzW+vtmdsauFAkAbLIO6m4C0y8I3ES1D1kSNCzWzz4+n3gE4tE9hpdsl
+Ttua7hOj2csouOL1OH436tbZxGO/0mQpPZMhEavWhzz
-----END RSA PRIVATE KEY-----
`

// arcMsg carries our Authentication-Results (mx.example.org), folded and
// oddly spaced fields, trailing blanks and empty lines.
const arcMsg = "Authentication-Results: mx.example.org (MIMEDefang);\n" +
	"\tspf=pass (domain of alice@example.com designates 192.0.2.7 as permitted sender) smtp.mailfrom=alice@example.com;\n" +
	"\tdkim=pass header.d=example.com\n" +
	"From: Alice <alice@example.com>\nTo: bob@example.net\nSubject:  Hello   there \n" +
	"Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <x@example.com>\nX-Other: folded\n  value\n" +
	"MIME-Version: 1.0\nContent-Type: text/plain\n\nHello  world \t\n\n line two\n\n\n"

// The golden fields: what Perl's Mail::DKIM::ARC::Signer (1.20230212)
// writes for arcMsg with arcKey, Timestamp 1700000000, chain ar, domain
// example.org, srvid mx.example.org, selector arc1, Headers X-Other; then,
// for the message with those fields and "Authentication-Results:
// mx2.example.net; arc=pass (i=1)" on top, Timestamp 1700000100, chain
// pass, domain example.net, srvid mx2.example.net, selector arc2.
var arcGolden = [][]ARCField{{
	{"ARC-Seal", "i=1; a=rsa-sha256; cv=none; d=example.org; s=arc1; t=\n" +
		"\t1700000000; b=JcwcttnZVNjwv55NzGbjyuc5txKULDzn5fgTMns7hdi/ZTztwg\n" +
		"\tN8DpxIk9h5DeNqdZpOUaCh19YSa+QQVxw23Z+lp7qfQAS9m3oAfs3f+4pUj1ltG9\n" +
		"\t1bKo7tTiVxbi64j1CkLfvstPL39wGRtSsGlyWSF/3SXpoC/z/ErROwsXI="},
	{"ARC-Message-Signature", "i=1; a=rsa-sha256; c=relaxed/relaxed; d=\n" +
		"\texample.org; h=from:to:subject:date:message-id:x-other\n" +
		"\t:mime-version:content-type; s=arc1; t=1700000000; bh=7X3lP1cVtXY\n" +
		"\ti2GCOFthgTbXXsyVOuV2ecHgT1aOAm8A=; b=Ev2f6tHggh7XW3LVhM4HZF+3uPw\n" +
		"\ttTISAfTS/EDCeD+Ggph/3cRr1XhJBI41l1ciRJgseaZvuMCUqG1OQqv9rQFD2E93\n" +
		"\tSoxWTLtHySAsr2x6j2SzoIcmOYsEjaWcPbU2M+4l28CcVD+W9JC5M8JhCqT8lRnb\n" +
		"\t6+Vk94EOCgdd6msI="},
	{"ARC-Authentication-Results", "i=1; mx.example.org;\n" +
		"\tspf=pass (domain of alice@example.com designates 192.0.2.7 as permitted sender) smtp.mailfrom=alice@example.com;\n" +
		"\tdkim=pass header.d=example.com"},
}, {
	{"ARC-Seal", "i=2; a=rsa-sha256; cv=pass; d=example.net; s=arc2; t=\n" +
		"\t1700000100; b=odfVjJInKOg5M0CfYRTUFajHWdzcI8fgy7cLz0tZjmQM1MY17c\n" +
		"\tFoK/hbcHmdtz4SI+tbIgLkxGEvQr/GyiTOJMjbooV9/sEwlnjzAojTlQu9S4wzFW\n" +
		"\toeKvB5bHJMlxqe+Aq2qKJRa2wAac94Xp4gizqJimdQTBMKv6jEyuJ/x4U="},
	{"ARC-Message-Signature", "i=2; a=rsa-sha256; c=relaxed/relaxed; d=\n" +
		"\texample.net; h=from:to:subject:date:message-id:mime-version\n" +
		"\t:content-type; s=arc2; t=1700000100; bh=7X3lP1cVtXYi2GCOFthgTbXX\n" +
		"\tsyVOuV2ecHgT1aOAm8A=; b=YOORRZgOqzJqF2itoqr5ud6gEz2kQjOFF3Webnks\n" +
		"\tnMqmEkpYbSLoGDfsegBnaVisbGpXoIgniijbg6f25RQPgDx9RHDglw50biyk6XIz\n" +
		"\tkPbxxE0em0oULwV0K9oe7PGfI7gnPhepWDQaI6zhNHOJR2lnWPDc4bNlbthzorDS\n" +
		"\t9bs="},
	{"ARC-Authentication-Results", "i=2; mx2.example.net; arc=pass (i=1)"},
}}

func arcTestKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := ParseKey([]byte(arcKey))
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

// withARC is msg with the fields on top (and first the extra lines).
func withARC(msg string, fields []ARCField, extra ...string) string {
	var b strings.Builder
	for _, l := range extra {
		b.WriteString(l + "\n")
	}
	for _, f := range fields {
		b.WriteString(f.Name + ": " + f.Value + "\n")
	}
	return b.String() + msg
}

func mustSeal(t *testing.T, key crypto.Signer, msg string, o ARCOptions, now time.Time) ARCResult {
	t.Helper()
	r, err := ARCSign(key, []byte(msg), o, now)
	if err != nil {
		t.Fatalf("ARCSign: %v", err)
	}
	if !r.Sealed {
		t.Fatalf("ARCSign skipped the message: %s", r.Details)
	}
	return r
}

// TestARCSignGolden: the two hops are byte for byte Mail::DKIM's, and
// they verify.
func TestARCSignGolden(t *testing.T) {
	key := arcTestKey(t)
	now := time.Unix(1, 0) // unused: Timestamp is given
	r1 := mustSeal(t, key, arcMsg, ARCOptions{Chain: "ar", Domain: "example.org", SrvID: "mx.example.org", Selector: "arc1", Headers: "X-Other", Timestamp: 1700000000}, now)
	hop2 := withARC(arcMsg, r1.Fields, "Authentication-Results: mx2.example.net; arc=pass (i=1)")
	r2 := mustSeal(t, key, hop2, ARCOptions{Chain: "pass", Domain: "example.net", SrvID: "mx2.example.net", Selector: "arc2", Timestamp: 1700000100}, now)
	for hop, r := range []ARCResult{r1, r2} {
		if fmt.Sprint(r.Fields) != fmt.Sprint(arcGolden[hop]) {
			t.Errorf("hop %d:\n got %q\nwant %q", hop+1, r.Fields, arcGolden[hop])
		}
		if len(r.Warnings) != 0 {
			t.Errorf("hop %d: warnings %q", hop+1, r.Warnings)
		}
	}
	sealed := withARC(hop2, r2.Fields)
	if n, err := verifyARC(sealed, &key.PublicKey); n != 2 || err != nil {
		t.Errorf("the sealed message: instance %d, %v", n, err)
	}
	m := r2.Map()
	if len(m) != 3 || m["ARC-Authentication-Results"] != "i=2; mx2.example.net; arc=pass (i=1)" || !strings.HasPrefix(m["ARC-Seal"], "i=2; ") {
		t.Errorf("Map: %q", m)
	}
}

var (
	tagsRE = regexp.MustCompile(`(?:^|;\s*)([a-z]+)=`)
)

// tagNames lists the tags of a field's value, in order.
func tagNames(v string) string {
	var names []string
	for _, m := range tagsRE.FindAllStringSubmatch(v, -1) {
		names = append(names, m[1])
	}
	return strings.Join(names, " ")
}

// TestARCSignChains: each chain value, the seal's cv= and t=, the tag
// order, the AMS's t= only with a Timestamp; every result verifies; a
// changed body or ARC-Authentication-Results fails.
func TestARCSignChains(t *testing.T) {
	key := arcTestKey(t)
	now := time.Unix(1712345678, 0)
	arPass := "Authentication-Results: mx.example.org; arc=pass; dkim=pass header.d=example.com\n" + arcMsg
	for _, tc := range []struct {
		msg, chain, cv string
	}{
		{arcMsg, "none", "none"},
		{arcMsg, "fail", "fail"},
		{arcMsg, "pass", "pass"},
		{arcMsg, "ar", "none"}, // no arc= in our results
		{arPass, "ar", "pass"},
		{strings.Replace(arPass, "arc=pass", "arc=fail", 1), "ar", "fail"},
		{strings.Replace(arPass, "mx.example.org", "other.example", 1), "ar", "none"}, // not ours
	} {
		for _, ts := range []int64{0, 1700000000} {
			name := fmt.Sprintf("%s %s %d", tc.chain, tc.cv, ts)
			r := mustSeal(t, key, tc.msg, ARCOptions{Chain: tc.chain, Domain: "example.org", SrvID: "mx.example.org", Timestamp: ts}, now)
			if len(r.Fields) != 3 || r.Fields[0].Name != "ARC-Seal" || r.Fields[1].Name != "ARC-Message-Signature" || r.Fields[2].Name != "ARC-Authentication-Results" {
				t.Fatalf("%s: fields %q", name, r.Fields)
			}
			seal, ams := r.Fields[0].Value, r.Fields[1].Value
			wantT := now.Unix()
			amsTags := "i a c d h s bh b"
			if ts != 0 {
				wantT = ts
				amsTags = "i a c d h s t bh b"
			}
			if !strings.Contains(strings.ReplaceAll(seal, "\n\t", ""), fmt.Sprintf("cv=%s; d=example.org; s=default; t=%d; b=", tc.cv, wantT)) {
				t.Errorf("%s: seal %q", name, seal)
			}
			if got := tagNames(seal); got != "i a cv d s t b" {
				t.Errorf("%s: seal tags %q", name, got)
			}
			if got := tagNames(ams); got != amsTags {
				t.Errorf("%s: AMS tags %q, want %q", name, got, amsTags)
			}
			if strings.Contains(seal, "\r") || strings.Contains(ams, "\r") {
				t.Errorf("%s: CR in %q %q", name, seal, ams)
			}
			sealed := withARC(tc.msg, r.Fields)
			if n, err := verifyARC(sealed, &key.PublicKey); n != 1 || err != nil {
				t.Errorf("%s: instance %d, %v\n%s", name, n, err, sealed)
			}
			changed := strings.Replace(sealed, "line two", "line 2", 1)
			if _, err := verifyARC(changed, &key.PublicKey); err == nil || !strings.Contains(err.Error(), "body") {
				t.Errorf("%s: a changed body: %v", name, err)
			}
			changed = strings.Replace(sealed, "dkim=pass header.d=example.com", "dkim=fail header.d=example.com", 1)
			if _, err := verifyARC(changed, &key.PublicKey); err == nil || !strings.Contains(err.Error(), "ARC-Seal 1") {
				t.Errorf("%s: a changed ARC-Authentication-Results: %v", name, err)
			}
		}
	}
}

// TestARCSignSecondHop: sealing a sealed message again gives instance 2
// over the whole chain (cv=pass), instance 3 after that; a seal chained
// on a changed earlier set fails.
func TestARCSignSecondHop(t *testing.T) {
	key := arcTestKey(t)
	now := time.Unix(1712345678, 0)
	r1 := mustSeal(t, key, arcMsg, ARCOptions{Chain: "none", Domain: "example.org", SrvID: "mx.example.org"}, now)
	msg := withARC(arcMsg, r1.Fields)
	for i := 2; i <= 3; i++ {
		srv := fmt.Sprintf("mx%d.example.net", i)
		msg = "Authentication-Results: " + srv + "; arc=pass\n" + msg
		r := mustSeal(t, key, msg, ARCOptions{Chain: "ar", Domain: "example.net", SrvID: srv}, now.Add(time.Duration(i)*time.Second))
		if want := fmt.Sprintf("i=%d; a=rsa-sha256; cv=pass; d=example.net;", i); !strings.HasPrefix(r.Fields[0].Value, want) {
			t.Errorf("hop %d: seal %q", i, r.Fields[0].Value)
		}
		if want := fmt.Sprintf("i=%d; %s; arc=pass", i, srv); r.Fields[2].Value != want {
			t.Errorf("hop %d: AAR %q, want %q", i, r.Fields[2].Value, want)
		}
		msg = withARC(msg, r.Fields)
		if n, err := verifyARC(msg, &key.PublicKey); n != i || err != nil {
			t.Errorf("hop %d: instance %d, %v\n%s", i, n, err, msg)
		}
	}
	// The first set changed: the newest seal, which covers it, fails.
	changed := strings.Replace(msg, "cv=none", "cv=pass", 1)
	if _, err := verifyARC(changed, &key.PublicKey); err == nil {
		t.Error("a changed first ARC-Seal verifies")
	}
}

// TestARCSignSkipped: the messages Mail::DKIM's signer skips, with its
// details; Map gives {error = details}.
func TestARCSignSkipped(t *testing.T) {
	key := arcTestKey(t)
	now := time.Unix(1712345678, 0)
	r1 := mustSeal(t, key, arcMsg, ARCOptions{Chain: "none", Domain: "example.org", SrvID: "mx.example.org"}, now)
	set := func(i int) []string { // set 1 with instance i
		var l []string
		for _, f := range r1.Fields {
			l = append(l, f.Name+": "+strings.Replace(f.Value, "i=1;", fmt.Sprintf("i=%d;", i), 1))
		}
		return l
	}
	ours := "Authentication-Results: mx.example.org; arc=pass"
	lines := func(l ...any) string {
		var b strings.Builder
		for _, x := range l {
			switch x := x.(type) {
			case string:
				b.WriteString(x + "\n")
			case []string:
				for _, s := range x {
					b.WriteString(s + "\n")
				}
			}
		}
		return b.String() + "From: a@example.com\n\nbody\n"
	}
	for _, tc := range []struct {
		name, msg, chain, details string
	}{
		{"no results", "From: a@example.com\n\nbody\n", "none", "No authentication results seen"},
		{"not ours", lines("Authentication-Results: other.example; spf=pass"), "none", "No authentication results seen"},
		{"srvid case", lines("Authentication-Results: MX.Example.ORG; spf=pass"), "none", ""}, // lower-cased: ours
		{"name case", lines("authentication-results: mx.example.org; spf=pass"), "none", "No authentication results seen"},
		{"ARC first", lines(set(1), ours), "pass", "ARC header seen before Authentication-Results"},
		{"ar without arc=", lines("Authentication-Results: mx.example.org; spf=pass", set(1)), "ar", "No ARC result found in Authentication-Results"},
		{"duplicate seal", lines(ours, set(1), set(1)[0]), "pass", "Duplicate ARC-Seal 1"},
		{"duplicate AMS", lines(ours, set(1), set(1)[1]), "pass", "Duplicate ARC-Message-Signature 1"},
		{"duplicate AAR", lines(ours, set(1), set(1)[2]), "pass", "Duplicate ARC-Authentication-Results 1"},
		{"more AMS", lines(ours, set(1), set(2)[1]), "pass", "More message signatures than seals"},
		{"more AAR", lines(ours, set(1), set(2)[2]), "pass", "More authentication results than seals"},
		{"missing seal", lines(ours, set(2)[0]), "pass", "Missing ARC-Seal 1"},
		{"missing AMS", lines(ours, set(1)[0], set(1)[2]), "pass", "Missing Arc-Message-Signature 1"},
		{"duplicate seal 01", lines(ours, set(1)[0], "ARC-Seal: i=01; a=rsa-sha256"), "pass", "Duplicate ARC-Seal 01"},
		{"semicolon in domain", lines(ours), "pass", "ARC header seen before Authentication-Results"},
	} {
		o := ARCOptions{Chain: tc.chain, Domain: "example.org", SrvID: "mx.example.org"}
		if tc.name == "semicolon in domain" {
			o.Domain = "a;b"
		}
		r, err := ARCSign(key, []byte(tc.msg), o, now)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if tc.details == "" {
			if !r.Sealed {
				t.Errorf("%s: skipped: %s", tc.name, r.Details)
			}
			continue
		}
		if r.Sealed || r.Details != tc.details || len(r.Fields) != 0 {
			t.Errorf("%s: sealed %v, details %q, want %q", tc.name, r.Sealed, r.Details, tc.details)
		}
		if m := r.Map(); len(m) != 1 || m["error"] != tc.details {
			t.Errorf("%s: Map %q", tc.name, m)
		}
	}
}

// TestARCSignErrors: where Mail::DKIM dies.
func TestARCSignErrors(t *testing.T) {
	key := arcTestKey(t)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Now()
	ours := "Authentication-Results: mx.example.org; spf=pass\n"
	for _, tc := range []struct {
		name string
		key  crypto.Signer
		msg  string
		o    ARCOptions
		want string
	}{
		{"rsa-sha1", key, arcMsg, ARCOptions{Algorithm: "rsa-sha1", Chain: "none"}, "Invalid signing algorithm"},
		{"upper case", key, arcMsg, ARCOptions{Algorithm: "RSA-SHA256", Chain: "none"}, "Invalid signing algorithm"},
		{"chain", key, arcMsg, ARCOptions{Chain: "maybe"}, "Need a valid chain value"},
		{"no chain", key, arcMsg, ARCOptions{}, "Need a valid chain value"},
		{"ed25519 key", edKey, arcMsg, ARCOptions{Chain: "none"}, "cannot sign rsa-sha256"},
		{"seal syntax", key, ours + "ARC-Seal: i=1; junk\n\nbody\n", ARCOptions{Chain: "none", SrvID: "mx.example.org"}, "ARC-Seal: syntax error"},
		{"AMS syntax", key, ours + "ARC-Message-Signature: i=1; junk\n\nbody\n", ARCOptions{Chain: "none", SrvID: "mx.example.org"}, "ARC-Message-Signature: syntax error"},
		{"negative", key, ours + "ARC-Seal: i=-1\n\nbody\n", ARCOptions{Chain: "none", SrvID: "mx.example.org"}, "Modification of non-creatable array value attempted, subscript -1"},
	} {
		_, err := ARCSign(tc.key, []byte(tc.msg), tc.o, now)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestARCSignWarnings: Mail::DKIM's warnings as md_arc_sign logs them.
func TestARCSignWarnings(t *testing.T) {
	key := arcTestKey(t)
	msg := "Authentication-Results: ; spf=pass\nAuthentication-Results: mx.example.org\nARC-Seal: a=b\n" +
		"ARC-Message-Signature: i=1x\nFrom: a@example.com\n\nbody\n"
	r, err := ARCSign(key, []byte(msg), ARCOptions{Chain: "none", SrvID: "mx.example.org"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Authentication-Results Header parse error: Invalid AuthServ-ID Authentication-Results: ; spf=pass ",
		"Use of uninitialized value $arval in substitution (s///) ",
		"Use of uninitialized value $arval in substitution (s///) ",
		"Use of uninitialized value $i in array element ",
		"Use of uninitialized value $i in array element ",
		`Argument "1x" isn't numeric in array or hash lookup `,
	}
	if fmt.Sprint(r.Warnings) != fmt.Sprint(want) {
		t.Errorf("warnings:\n got %q\nwant %q", r.Warnings, want)
	}
	// The results field without results gives "mx.example.org; ".
	if r.Details != "More message signatures than seals" {
		t.Errorf("details %q", r.Details)
	}
	r = mustSeal(t, key, "Authentication-Results: mx.example.org\nFrom: a@example.com\n\nbody\n", ARCOptions{Chain: "none", SrvID: "mx.example.org"}, time.Now())
	if r.Fields[2].Value != "i=1; mx.example.org; " {
		t.Errorf("AAR %q", r.Fields[2].Value)
	}
}

// TestARCAuthResults: how our results are joined into the
// ARC-Authentication-Results.
func TestARCAuthResults(t *testing.T) {
	key := arcTestKey(t)
	for _, tc := range []struct{ fields, aar string }{
		{"Authentication-Results: mx.example.org; spf=pass", "i=1; mx.example.org; spf=pass"},
		{"Authentication-Results:mx.example.org;spf=pass;", "i=1; mx.example.org; spf=pass"},
		{"Authentication-Results: mx.example.org ;  spf=pass ; \t", "i=1; mx.example.org; spf=pass "},
		{"Authentication-Results: mx.example.org; spf=pass ;", "i=1; mx.example.org; spf=pass "},
		{"Authentication-Results: mx.example.org;\n\tspf=pass;\n\tdkim=none", "i=1; mx.example.org;\n\tspf=pass;\n\tdkim=none"},
		{"Authentication-Results: (ours) MX.example.org 1; spf=pass\nAuthentication-Results: mx.example.org; dkim=fail",
			"i=1; MX.example.org; spf=pass; dkim=fail"},
		{"Authentication-Results: mx.example.org; none", "i=1; mx.example.org; none"},
	} {
		r := mustSeal(t, key, tc.fields+"\nFrom: a@example.com\n\nbody\n", ARCOptions{Chain: "none", SrvID: "mx.example.org"}, time.Now())
		if r.Fields[2].Value != tc.aar {
			t.Errorf("%q: AAR %q, want %q", tc.fields, r.Fields[2].Value, tc.aar)
		}
	}
}

// TestParseAuthServID: Mail::AuthenticationResults::Parser's authserv-id
// and its errors.
func TestParseAuthServID(t *testing.T) {
	for _, tc := range []struct{ field, id, err string }{
		{"Authentication-Results: mx.test; spf=pass", "mx.test", ""},
		{"Authentication-Results: mx.test (MIMEDefang); spf=pass smtp.mailfrom=a@b", "mx.test", ""},
		{"Authentication-Results: (c) mx.test 1; none", "mx.test", ""},
		{"Authentication-Results: \"mx test\"; none", "mx test", ""},
		{"authentication-results: mx.test a=b; dkim=pass header.d=x (ok) header.b=abc", "mx.test", ""},
		{"Authentication-Results: mx.test; dkim/1=pass", "mx.test", ""},
		{"Authentication-Results: (only a comment)", "", ""},
		{"Authentication-Results: mx.test", "mx.test", ""},
		{"Authentication-Results:   ", "", "Nothing to parse"},
		{"Authentication-Results: ; spf=pass", "", "Invalid AuthServ-ID"},
		{"Authentication-Results: mx.test (open; spf=pass", "", "Mismatched parens in comment"},
		{"Authentication-Results: mx.test; spf=\"pass", "", "Quoted string not closed"},
		{"Authentication-Results: mx.test a b; spf=pass", "", "not expecting a string"},
		{"Authentication-Results: mx.test a.b=c; spf=pass", "", "unexpected token"},
		{"Authentication-Results: mx.test =; spf=pass", "", "not expecting an assignment"},
		{"Authentication-Results: mx.test; spf=pass x y", "", "not expecting a string"},
		{"Authentication-Results: mx.test; none spf=pass", "", "not expecting a string"},
		{"Authentication-Results: mx.test; dkim/x=pass", "", "bad version token"},
		{"Authentication-Results: mx.test; spf=pa\"ss", "", "Invalid characters in value"},
		{"Authentication-Results: mx\"test; spf=pass", "", "Invalid characters in value"},
		{"Authentication-Results: mx.test; \"\"=pass", "", "Key cannot be empty"},
		{"Authentication-Results: mx.test; spf./=pass", "", "not expecting an assignment"},
		{"Authentication-Results: mx.test; spf=pass smtp..x", "", "Not a string"},
	} {
		id, err := parseAuthServID(tc.field)
		if id != tc.id || (err == nil) != (tc.err == "") || err != nil && err.Error() != tc.err {
			t.Errorf("%q: %q, %v; want %q, %q", tc.field, id, err, tc.id, tc.err)
		}
	}
}

// verifyARC checks the ARC chain of msg against pub (all instances signed
// with it), as RFC 8617 §5.2 does with Mail::DKIM's seal scope (earlier
// sets only when cv=pass): the newest ARC-Message-Signature and every
// ARC-Seal. It returns the newest instance.
func verifyARC(msg string, pub *rsa.PublicKey) (int, error) {
	fields, body := splitMessage([]byte(msg))
	sets := map[string]map[int]string{}
	n := 0
	for _, f := range fields {
		f = strings.TrimRight(f, "\r\n")
		name, v, _ := strings.Cut(f, ":")
		if !strings.HasPrefix(name, "ARC-") {
			continue
		}
		m := regexp.MustCompile(`^\s*i=(\d+)`).FindStringSubmatch(v)
		if m == nil {
			return 0, fmt.Errorf("%s without i=", name)
		}
		var i int
		fmt.Sscan(m[1], &i)
		if sets[name] == nil {
			sets[name] = map[int]string{}
		}
		sets[name][i] = f
		n = max(n, i)
	}
	check := func(what, field string, h hashFunc) error {
		sig, err := parseSig(field[strings.IndexByte(field, ':')+1:])
		if err != nil {
			return err
		}
		raws := append([]string(nil), sig.raws...)
		name, _, _ := strings.Cut(raws[sig.bIndex], "=")
		raws[sig.bIndex] = name + "="
		d := sha256.New()
		h(d)
		d.Write([]byte(canonHeader(true, field[:strings.IndexByte(field, ':')+1]+strings.Join(raws, ";"))))
		b, _ := base64.StdEncoding.DecodeString(stripSpace(sig.vals["b"]))
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, d.Sum(nil), b) != nil {
			return errors.New(what + " does not verify")
		}
		return nil
	}
	ams := sets["ARC-Message-Signature"][n]
	if ams == "" {
		return 0, fmt.Errorf("no ARC-Message-Signature %d", n)
	}
	sig, _ := parseSig(ams[strings.IndexByte(ams, ':')+1:])
	bh := sha256.Sum256(canonBody(true, body))
	if base64.StdEncoding.EncodeToString(bh[:]) != stripSpace(sig.vals["bh"]) {
		return n, errors.New("the body has changed")
	}
	var all []string
	for _, f := range fields {
		all = append(all, strings.TrimRight(f, "\r\n"))
	}
	if err := check(fmt.Sprintf("ARC-Message-Signature %d", n), ams, func(d hashWriter) {
		hashFields(d, all, strings.Split(stripSpace(sig.vals["h"]), ":"), true)
	}); err != nil {
		return n, err
	}
	for i := 1; i <= n; i++ {
		as := sets["ARC-Seal"][i]
		if as == "" || sets["ARC-Authentication-Results"][i] == "" {
			return n, fmt.Errorf("ARC set %d incomplete", i)
		}
		seal, _ := parseSig(as[strings.IndexByte(as, ':')+1:])
		if err := check(fmt.Sprintf("ARC-Seal %d", i), as, func(d hashWriter) {
			from := i
			if seal.vals["cv"] == "pass" {
				from = 1
			}
			for j := from; j <= i; j++ {
				for k, name := range []string{"ARC-Authentication-Results", "ARC-Message-Signature", "ARC-Seal"} {
					if j == i && k == 2 {
						break
					}
					d.Write([]byte(canonHeader(true, sets[name][j]) + "\r\n"))
				}
			}
		}); err != nil {
			return n, err
		}
	}
	return n, nil
}

type hashWriter = interface{ Write([]byte) (int, error) }

type hashFunc func(hashWriter)

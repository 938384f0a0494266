// RSA keys of 768 bits, as MIMEDefang's own DKIM test uses, are refused by
// Go's crypto/rsa unless rsa1024min=0 (md-worker sets it too).
//
//go:debug rsa1024min=0
package integration

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
	"github.com/mdgo/md/worker/workdir"
)

// dkimMessages are the messages signed and verified: folded, repeated and
// oddly spaced fields, trailing blanks and empty lines, an empty body, a
// long header list, 8-bit text.
var dkimMessages = map[string]string{
	"plain": "From: Alice <alice@dkim.test>\nTo: bob@example.net\nSubject: Hello\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n" +
		"Message-ID: <plain@dkim.test>\n\nHello Bob.\n",
	"spaces": "From: Alice <alice@dkim.test>\nTo:   bob@example.net  \nSubject:  Hello \t there \n" +
		"X-Folded: one\n  two\n\tthree\nSubject: a second subject\nMIME-Version: 1.0\nContent-Type: text/plain;\n charset=utf-8\n\n" +
		"Hello  world \t\n\n line two \n\n\n\n",
	"empty body": "From: alice@dkim.test\nTo: bob@example.net\nSubject: nothing\n\n",
	"many fields": "From: Alice <alice@dkim.test>\nSender: list@dkim.test\nReply-To: replies@dkim.test\nSubject: A very long subject line that goes on and on\n" +
		"Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <many@dkim.test>\nTo: a@example.net, b@example.net\nCc: c@example.net\n" +
		"MIME-Version: 1.0\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\nIn-Reply-To: <x@y>\n" +
		"References: <x@y> <z@y>\nList-Id: <list.dkim.test>\nList-Unsubscribe: <mailto:u@dkim.test>\nX-Mailer: test\n\n" +
		"Gr\xfc\xdfe aus K\xf6ln.\n",
}

// dkimCombo is one set of md_dkim_sign arguments.
type dkimCombo struct {
	key, algorithm, method, selector, headers string
}

var dkimCombos = []dkimCombo{
	{"rsa1024", "", "", "", ""}, // every default: rsa-sha1, relaxed/simple, example.org, default
	{"rsa2048", "rsa-sha256", "relaxed/simple", "rsa2048", ""},
	{"rsa2048", "rsa-sha256", "relaxed", "rsa2048", ""},
	{"rsa2048", "rsa-sha256", "simple/simple", "rsa2048", "X-Folded:X-Mailer"},
	{"rsa2048", "rsa-sha256", "relaxed/relaxed", "rsa2048", "x-folded"},
	{"rsa1024", "rsa-sha1", "simple/relaxed", "rsa1024", ""},
	{"rsa768", "rsa-sha256", "relaxed/simple", "rsa768", ""},
}

// txtStrings writes s as TXT strings of at most 255 bytes.
func txtStrings(s string) string {
	var parts []string
	for len(s) > 255 {
		parts, s = append(parts, `"`+s[:255]+`"`), s[255:]
	}
	return strings.Join(append(parts, `"`+s+`"`), " ")
}

// decodePercent undoes percent_encode.
func decodePercent(t *testing.T, s string) string {
	d, err := url.PathUnescape(s)
	if err != nil {
		t.Fatalf("percent-decoding %q: %v", s, err)
	}
	return d
}

// TestDKIMAgainstMailDKIM: md_dkim_sign is byte for byte MIMEDefang's
// (Debian's Mail::MIMEDefang::DKIM over Mail::DKIM, run side by side on
// the same INPUTMSG and key) for every message and argument set; its
// signatures verify with Mail::DKIM (RSA) and dkimpy (Ed25519) against a
// real NSD, theirs with md_dkim_verify; a changed body or header fails; a
// DNS server that does not answer gives temperror, not a pass.
func TestDKIMAgainstMailDKIM(t *testing.T) {
	requirePerlModules(t, "mimedefang libmail-dkim-perl", "Mail::DKIM::Verifier", "Mail::MIMEDefang::DKIM")
	if out, err := exec.Command("/usr/bin/python3", "-c", "import dkim").CombinedOutput(); err != nil {
		t.Fatalf("dkimpy is needed for Ed25519 (%v: %s): apt-get install -y python3-dkim", err, out)
	}
	dir := harness.NewTestDir(t)

	// Keys: RSA 768 (as MIMEDefang's own test), 1024, 2048; Ed25519.
	zone := zoneHead("dkim.test")
	keyFiles := map[string]string{}
	var rsa1024TXT string
	for name, bits := range map[string]int{"rsa768": 768, "rsa1024": 1024, "rsa2048": 2048} {
		path, _, txt := writeRSAKey(t, dir, name, bits)
		keyFiles[name] = path
		zone += name + "._domainkey IN TXT " + txt + "\n"
		if name == "rsa1024" {
			rsa1024TXT = txt
		}
	}
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyFiles["ed"] = filepath.Join(dir, "ed.key")
	if err := os.WriteFile(keyFiles["ed"], []byte(base64.StdEncoding.EncodeToString(edKey.Seed())+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	edTXT := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(edPub)
	zone += "ed._domainkey IN TXT " + txtStrings(edTXT) + "\n"
	orgZone := zoneHead("example.org") + "default._domainkey IN TXT " + rsa1024TXT + "\n"
	ns := harness.StartNSD(t, harness.NSDOptions{Dir: dir, Zones: map[string]string{"dkim.test.": zone, "example.org.": orgZone}})
	t.Setenv("MD_DNS_SERVERS", ns.Addr)

	var mdSigned []string // files signed by md-worker (RSA)
	var edSigned []string // files signed by md-worker (Ed25519)
	for name, msg := range dkimMessages {
		mdir := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.MkdirAll(mdir, 0o755); err != nil {
			t.Fatal(err)
		}
		// Both sign INPUTMSG as the milter spools it (field values
		// rewritten "Name: value"), and so does the comparison.
		raw := msg
		msg = string(workdir.Files([]byte(raw), "dkim", "NOQUEUE")["INPUTMSG"])
		if err := os.WriteFile(filepath.Join(mdir, "INPUTMSG"), []byte(msg), 0o644); err != nil {
			t.Fatal(err)
		}
		// md-worker signs with every argument set, plus Ed25519 and
		// wrapping off, in one run.
		var src strings.Builder
		src.WriteString("function filter_end(e)\n  local n, v\n")
		for i, c := range dkimCombos {
			if c.algorithm == "" {
				fmt.Fprintf(&src, "  n, v = md_dkim_sign(%q)\n", keyFiles[c.key])
			} else {
				fmt.Fprintf(&src, "  n, v = md_dkim_sign(%q, %q, %q, \"dkim.test\", %q, %q)\n", keyFiles[c.key], c.algorithm, c.method, c.selector, c.headers)
			}
			fmt.Fprintf(&src, "  action_add_header(\"X-Sig-%d\", n .. \": \" .. percent_encode(v))\n", i)
		}
		fmt.Fprintf(&src, "  n, v = md_dkim_sign(%q, \"rsa-sha256\", \"relaxed\", \"dkim.test\", \"rsa2048\", nil, 0)\n  action_add_header(\"X-Sig-nowrap\", percent_encode(v))\n", keyFiles["rsa2048"])
		fmt.Fprintf(&src, "  n, v = md_dkim_sign(%q, \"ed25519-sha256\", \"relaxed/simple\", \"dkim.test\", \"ed\")\n  action_add_header(\"X-Sig-ed\", percent_encode(v))\nend\n", keyFiles["ed"])
		filter := filepath.Join(mdir, "sign.lua")
		if err := os.WriteFile(filter, []byte(src.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		r := runMDWorkerTestRaw(t, mdir, filter, []byte(raw))
		got := map[string]string{}
		for _, l := range strings.Split(r.out, "\n") {
			if _, rest, ok := strings.Cut(l, "X-Sig-"); ok {
				k, v, _ := strings.Cut(rest, ": ")
				got[k] = v
			}
		}
		for i, c := range dkimCombos {
			args := []string{mdir, keyFiles[c.key], c.algorithm, c.method, "dkim.test", c.selector}
			if c.algorithm == "" {
				// MIMEDefang 3.7's defaults, which 3.3 takes spelled
				// out (its default method is relaxed); "-" is undef.
				args = []string{mdir, keyFiles[c.key], "rsa-sha1", "relaxed/simple", "-", "default"}
			}
			if c.headers != "" {
				args = append(args, c.headers)
			}
			out, err := exec.Command("perl", append([]string{harness.Testdata(t, "dkimsign.pl")}, args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("%s %v: dkimsign.pl: %v\n%s", name, c, err, out)
			}
			wantName, wantValue, _ := strings.Cut(string(out), "\n")
			gotName, gotValue, _ := strings.Cut(got[strconv.Itoa(i)], ": ")
			gotValue = decodePercent(t, gotValue)
			if gotName != wantName || gotValue != wantValue {
				t.Errorf("%s %v: md_dkim_sign differs from MIMEDefang's:\n md-worker: %s: %q\n MIMEDefang: %s: %q", name, c, gotName, gotValue, wantName, wantValue)
			}
			// Theirs, for md_dkim_verify below.
			writeSigned(t, filepath.Join(mdir, fmt.Sprintf("perl-%d.eml", i)), wantName, wantValue, msg)
			mdSigned = append(mdSigned, writeSigned(t, filepath.Join(mdir, fmt.Sprintf("md-%d.eml", i)), gotName, gotValue, msg))
		}
		nowrap := decodePercent(t, got["nowrap"])
		if strings.ContainsAny(strings.ReplaceAll(nowrap, "; ", ";"), " \t\n") || nowrap == "" {
			t.Errorf("%s: wrapping off still folds: %q", name, nowrap)
		}
		mdSigned = append(mdSigned, writeSigned(t, filepath.Join(mdir, "md-nowrap.eml"), "DKIM-Signature", nowrap, msg))
		edSigned = append(edSigned, writeSigned(t, filepath.Join(mdir, "md-ed.eml"), "DKIM-Signature", decodePercent(t, got["ed"]), msg))
	}

	// md-worker's RSA signatures verify with Mail::DKIM; changed copies fail.
	var tampered []string
	for _, f := range mdSigned {
		b, _ := os.ReadFile(f)
		body := strings.Replace(string(b), "\n\n", "\n\nX", 1)
		if i := strings.LastIndex(body, "\n\nX"); i >= 0 {
			tf := f + ".changed"
			if err := os.WriteFile(tf, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			tampered = append(tampered, tf)
		}
	}
	out, err := exec.Command("perl", append([]string{harness.Testdata(t, "dkimverify.pl"), strconv.Itoa(ns.Port)}, append(mdSigned, tampered...)...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("dkimverify.pl: %v\n%s", err, out)
	}
	results := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i, f := range append(mdSigned, tampered...) {
		domain := "dkim.test"
		if strings.Contains(f, "/md-0.eml") {
			domain = "example.org" // the defaults
		}
		want := "pass " + domain
		if strings.HasSuffix(f, ".changed") {
			want = "fail " + domain
		}
		if i >= len(results) || results[i] != want {
			t.Errorf("Mail::DKIM on %s: %q, want %q", f, results[min(i, len(results)-1)], want)
		}
	}

	// md-worker's Ed25519 signatures verify with dkimpy, and dkimpy's with
	// md_dkim_verify.
	for _, f := range edSigned {
		if out, err := exec.Command("/usr/bin/python3", harness.Testdata(t, "dkimpy.py"), "verify", edTXT, f).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "pass" {
			t.Errorf("dkimpy on %s: %s %v", f, out, err)
		}
	}
	verifyFilter := filepath.Join(dir, "verify.lua")
	if err := os.WriteFile(verifyFilter, []byte(`function filter_end(e)
  local r, d, k, b = md_dkim_verify()
  action_add_header("X-DKIM", r .. " " .. tostring(d) .. " " .. k .. " " .. tostring(b ~= nil))
end
`), 0o644); err != nil {
		t.Fatal(err)
	}
	verify := func(file string) string {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		r := runMDWorkerTestRaw(t, filepath.Dir(file), verifyFilter, b)
		for _, l := range strings.Split(r.out, "\n") {
			if _, v, ok := strings.Cut(l, "X-DKIM: "); ok {
				return v
			}
		}
		t.Fatalf("md-worker test printed no X-DKIM:\n%s", r.out)
		return ""
	}
	for name := range dkimMessages {
		mdir := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		msg, err := os.ReadFile(filepath.Join(mdir, "INPUTMSG"))
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range dkimCombos {
			bits, domain := strings.TrimPrefix(c.key, "rsa"), "dkim.test"
			if c.algorithm == "" {
				domain = "example.org"
			}
			if got, want := verify(filepath.Join(mdir, fmt.Sprintf("perl-%d.eml", i))), "pass "+domain+" "+bits+" true"; got != want {
				t.Errorf("md_dkim_verify on MIMEDefang's %s %v: %q, want %q", name, c, got, want)
			}
		}
		out, err := exec.Command("/usr/bin/python3", harness.Testdata(t, "dkimpy.py"), "sign", keyFiles["ed"], "ed", "dkim.test", filepath.Join(mdir, "INPUTMSG")).CombinedOutput()
		if err != nil {
			t.Fatalf("dkimpy sign: %v\n%s", err, out)
		}
		pyFile := filepath.Join(mdir, "py-ed.eml")
		if err := os.WriteFile(pyFile, append(out, msg...), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := verify(pyFile); got != "pass dkim.test 256 true" {
			t.Errorf("md_dkim_verify on dkimpy's Ed25519 signature of %s: %q", name, got)
		}
		if got := verify(filepath.Join(mdir, "md-1.eml.changed")); !strings.HasPrefix(got, "fail dkim.test") {
			t.Errorf("md_dkim_verify on a changed %s: %q", name, got)
		}
		if got := verify(filepath.Join(mdir, "INPUTMSG")); got != "none nil 0 false" {
			t.Errorf("md_dkim_verify on unsigned %s: %q", name, got)
		}
	}

	// DNS that does not answer: a temporary error within the timeout.
	ns.Hang(t)
	defer ns.Resume(t)
	start := time.Now()
	if got := verify(filepath.Join(dir, "plain", "md-0.eml")); got != "temperror nil 0 false" {
		t.Errorf("hung DNS: %q, want temperror", got)
	}
	if limit := harness.Scale(20 * time.Second); time.Since(start) > limit {
		t.Errorf("hung DNS: took %v", time.Since(start))
	}
}

// writeSigned writes the message with the signature field on top.
func writeSigned(t *testing.T, path, name, value, msg string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(name+": "+value+"\n"+msg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

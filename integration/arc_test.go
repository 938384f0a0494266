package integration

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
	"github.com/mdgo/md/worker/filter/dkim"
	"github.com/mdgo/md/worker/workdir"
)

// arcResults is our Authentication-Results (authserv-id mx.arc.test), as
// md_authres writes it.
const arcResults = "Authentication-Results: mx.arc.test (MIMEDefang);\n" +
	"\tspf=pass (domain of alice@arc.test designates 192.0.2.7 as permitted sender) smtp.mailfrom=alice@arc.test;\n" +
	"\tdkim=pass header.d=arc.test\n"

// arcMessages are the messages sealed, each carrying our results: folded,
// repeated and oddly spaced fields, trailing blanks and empty lines, an
// empty body, a long header list, 8-bit text; one whose results hold ": "
// (see arcMIMEDefangSplit).
var arcMessages = map[string]string{
	"plain": arcResults + "From: Alice <alice@arc.test>\nTo: bob@example.net\nSubject: Hello\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n" +
		"Message-ID: <plain@arc.test>\n\nHello Bob.\n",
	"spaces": "Authentication-Results:  mx.arc.test ;  spf=pass smtp.mailfrom=alice@arc.test ; \n" +
		"From: Alice <alice@arc.test>\nTo:   bob@example.net  \nSubject:  Hello \t there \n" +
		"X-Folded: one\n  two\n\tthree\nSubject: a second subject\nMIME-Version: 1.0\nContent-Type: text/plain;\n charset=utf-8\n\n" +
		"Hello  world \t\n\n line two \n\n\n\n",
	"empty body": arcResults + "From: alice@arc.test\nTo: bob@example.net\nSubject: nothing\n\n",
	"many fields": "Authentication-Results: mx.arc.test; dkim=pass header.d=arc.test\nReceived: from x by y\n" + arcResults +
		"From: Alice <alice@arc.test>\nSender: list@arc.test\nReply-To: replies@arc.test\nSubject: A very long subject line that goes on and on\n" +
		"Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <many@arc.test>\nTo: a@example.net, b@example.net\nCc: c@example.net\n" +
		"MIME-Version: 1.0\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\nIn-Reply-To: <x@y>\n" +
		"References: <x@y> <z@y>\nList-Id: <list.arc.test>\nList-Unsubscribe: <mailto:u@arc.test>\nX-Mailer: test\n\n" +
		"Gr\xfc\xdfe aus K\xf6ln.\n",
	"colon": "Authentication-Results: mx.arc.test;\n\tspf=pass (mx.arc.test: domain of alice@arc.test designates 192.0.2.7 as permitted sender)\n" +
		"From: alice@arc.test\nTo: bob@example.net\nSubject: colon\n\nbody\n",
}

// arcCombo is one set of md_arc_sign arguments (domain arc.test).
type arcCombo struct {
	key, chain, srvid, headers string
}

var arcCombos = []arcCombo{
	{"hop1", "ar", "mx.arc.test", ""},
	{"hop1", "none", "mx.arc.test", "X-Folded:x-mailer:Received"},
	{"hop2", "pass", "mx.arc.test", ""},
	{"hop2", "fail", "mx.arc.test", "List-Id"},
	{"hop1", "none", "other.test", ""}, // not our results: skipped
}

// arcFixedTime is the time of the byte comparisons.
const arcFixedTime = 1700000000

// TestARCAgainstMailDKIM: md_arc_sign's ARC sets are byte for byte those of
// Perl's Mail::DKIM::ARC::Signer (run side by side on the same INPUTMSG
// and key, with the same Timestamp), and of MIMEDefang's own md_arc_sign
// (Debian's Mail::MIMEDefang::DKIM::ARC, Perl's time() fixed), for every
// message and argument set, first and second hop; md-worker seals each
// message, then seals it again (i=2, cv=pass), and both verify with
// Mail::DKIM::ARC::Verifier and dkimpy's arc_verify against a real NSD; a
// changed body fails.
func TestARCAgainstMailDKIM(t *testing.T) {
	requirePerlModules(t, "mimedefang libmail-dkim-perl", "Mail::DKIM::ARC::Signer", "Mail::DKIM::ARC::Verifier", "Mail::MIMEDefang::DKIM::ARC", "JSON::PP")
	if out, err := exec.Command("/usr/bin/python3", "-c", "import dkim, dns.resolver").CombinedOutput(); err != nil {
		t.Fatalf("dkimpy is needed (%v: %s): apt-get install -y python3-dkim", err, out)
	}
	dir := harness.NewTestDir(t)

	// Two keys: hop1 (RSA 2048) and hop2 (RSA 1024), both in arc.test.
	zone := zoneHead("arc.test")
	keyFiles := map[string]string{}
	keys := map[string]*rsa.PrivateKey{}
	for name, bits := range map[string]int{"hop1": 2048, "hop2": 1024} {
		path, k, txt := writeRSAKey(t, dir, name, bits)
		keyFiles[name], keys[name] = path, k
		zone += name + "._domainkey IN TXT " + txt + "\n"
	}
	ns := harness.StartNSD(t, harness.NSDOptions{Dir: dir, Zones: map[string]string{"arc.test.": zone}})
	t.Setenv("MD_DNS_SERVERS", ns.Addr)

	// The filters: hop 1 seals with chain ar (our results have no arc=:
	// none), hop 2 with chain pass.
	filters := map[string]string{}
	for hop, args := range map[string]string{
		"hop1": fmt.Sprintf("%q, nil, \"ar\", \"arc.test\", \"mx.arc.test\", \"hop1\"", keyFiles["hop1"]),
		"hop2": fmt.Sprintf("%q, nil, \"pass\", \"arc.test\", \"mx2.arc.test\", \"hop2\"", keyFiles["hop2"]),
	} {
		filters[hop] = filepath.Join(dir, hop+".lua")
		src := "function filter_end(e)\n  local h = md_arc_sign(" + args + ")\n" +
			"  for _, n in ipairs({\"ARC-Seal\", \"ARC-Message-Signature\", \"ARC-Authentication-Results\", \"error\"}) do\n" +
			"    if h[n] then action_add_header(\"X-ARC-\" .. n, percent_encode(h[n])) end\n  end\nend\n"
		if err := os.WriteFile(filters[hop], []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	var sealed, changed []string // files sealed by md-worker; with a changed body
	for name, raw := range arcMessages {
		mdir := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.MkdirAll(mdir, 0o755); err != nil {
			t.Fatal(err)
		}
		// Both seal INPUTMSG as the milter spools it.
		msg := string(workdir.Files([]byte(raw), "arc", "NOQUEUE")["INPUTMSG"])
		first := compareARC(t, name, mdir, msg, keyFiles, keys, arcCombos)
		// The second hop over Mail::DKIM's first set (the same as ours).
		raw2 := "Authentication-Results: mx2.arc.test; arc=pass\n" + first + msg
		msg2 := string(workdir.Files([]byte(raw2), "arc", "NOQUEUE")["INPUTMSG"])
		compareARC(t, name+" hop 2", filepath.Join(mdir, "hop2"), msg2, keyFiles, keys, []arcCombo{
			{"hop2", "pass", "mx2.arc.test", ""},
			{"hop2", "ar", "mx2.arc.test", "X-Folded"},
			{"hop2", "fail", "mx2.arc.test", ""},
			{"hop2", "pass", "mx.arc.test", ""}, // our results come after the ARC set: skipped
		})

		// md-worker seals it, then the sealed message again.
		in := raw
		for i, hop := range []string{"hop1", "hop2"} {
			hdir := filepath.Join(mdir, "md-"+hop)
			if err := os.MkdirAll(hdir, 0o755); err != nil {
				t.Fatal(err)
			}
			if i > 0 {
				in = "Authentication-Results: mx2.arc.test; arc=pass\n" + in
			}
			r := runMDWorkerTestRaw(t, hdir, filters[hop], []byte(in))
			got := map[string]string{}
			for _, l := range strings.Split(r.out, "\n") {
				if _, rest, ok := strings.Cut(l, "X-ARC-"); ok {
					k, v, _ := strings.Cut(rest, ": ")
					got[k] = decodePercent(t, v)
				}
			}
			if got["error"] != "" || len(got) != 3 {
				t.Fatalf("%s %s: md_arc_sign gave %q\n%s", name, hop, got, r.log)
			}
			cv := map[string]string{"hop1": "none", "hop2": "pass"}[hop]
			if want := fmt.Sprintf("i=%d; a=rsa-sha256; cv=%s; d=arc.test; s=%s; t=", i+1, cv, hop); !strings.HasPrefix(got["ARC-Seal"], want) {
				t.Errorf("%s %s: ARC-Seal %q, want %q...", name, hop, got["ARC-Seal"], want)
			}
			input := string(workdir.Files([]byte(in), "arc", "NOQUEUE")["INPUTMSG"])
			in = "ARC-Seal: " + got["ARC-Seal"] + "\nARC-Message-Signature: " + got["ARC-Message-Signature"] +
				"\nARC-Authentication-Results: " + got["ARC-Authentication-Results"] + "\n" + input
			file := filepath.Join(hdir, "sealed.eml")
			if err := os.WriteFile(file, []byte(in), 0o644); err != nil {
				t.Fatal(err)
			}
			sealed = append(sealed, file)
			if i := strings.LastIndex(in, "\n\n"); i >= 0 {
				tf := file + ".changed"
				if err := os.WriteFile(tf, []byte(in[:i]+"\n\nX"+in[i+2:]), 0o644); err != nil {
					t.Fatal(err)
				}
				changed = append(changed, tf)
			}
		}
	}

	// Mail::DKIM and dkimpy verify md-worker's seals and fail the changed
	// copies.
	files := append(append([]string(nil), sealed...), changed...)
	out, err := exec.Command("perl", append([]string{harness.Testdata(t, "arcverify.pl"), strconv.Itoa(ns.Port)}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("arcverify.pl: %v\n%s", err, out)
	}
	perl := strings.Split(strings.TrimSpace(string(out)), "\n")
	out, err = exec.Command("/usr/bin/python3", append([]string{harness.Testdata(t, "arcpy.py"), strconv.Itoa(ns.Port)}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("arcpy.py: %v\n%s", err, out)
	}
	py := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(perl) != len(files) || len(py) != len(files) {
		t.Fatalf("%d files, %d Mail::DKIM results, %d dkimpy results:\n%s\n%s", len(files), len(perl), len(py), strings.Join(perl, "\n"), strings.Join(py, "\n"))
	}
	for i, f := range files {
		want := "pass"
		if strings.HasSuffix(f, ".changed") {
			want = "fail"
		}
		if perl[i] != want && !strings.HasPrefix(perl[i], want+" (") {
			t.Errorf("Mail::DKIM on %s: %q, want %s", f, perl[i], want)
		}
		if !strings.HasPrefix(py[i], want+" ") {
			t.Errorf("dkimpy on %s: %q, want %s", f, py[i], want)
		}
	}
}

// perlARC is arcsign.pl signer's answer.
type perlARC struct {
	Result  string   `json:"result"`
	Details *string  `json:"details"`
	Fields  []string `json:"fields"`
}

// compareARC seals msg (INPUTMSG) with dkim.ARCSign and with Perl, the
// signer and MIMEDefang's md_arc_sign, for each combo, and reports any
// difference. It returns the first combo's fields, "Name: value" lines.
func compareARC(t *testing.T, name, dir, msg string, keyFiles map[string]string, keys map[string]*rsa.PrivateKey, combos []arcCombo) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	input := filepath.Join(dir, "INPUTMSG")
	if err := os.WriteFile(input, []byte(msg), 0o644); err != nil {
		t.Fatal(err)
	}
	first := ""
	for i, c := range combos {
		o := dkim.ARCOptions{Chain: c.chain, Domain: "arc.test", SrvID: c.srvid, Selector: c.key, Headers: c.headers}
		headers := c.headers
		if headers == "" {
			headers = "-"
		}

		// Mail::DKIM::ARC::Signer with a Timestamp: t= in both signatures.
		out, err := exec.Command("perl", harness.Testdata(t, "arcsign.pl"), "signer", input, keyFiles[c.key], c.chain, "arc.test", c.srvid, c.key, strconv.Itoa(arcFixedTime), headers).Output()
		if err != nil {
			t.Fatalf("%s %v: arcsign.pl signer: %v", name, c, err)
		}
		var want perlARC
		if err := json.Unmarshal(out, &want); err != nil {
			t.Fatalf("%s %v: arcsign.pl signer: %v\n%s", name, c, err, out)
		}
		o.Timestamp = arcFixedTime
		res, err := dkim.ARCSign(keys[c.key], []byte(msg), o, time.Unix(1, 0))
		if err != nil {
			t.Fatalf("%s %v: ARCSign: %v", name, c, err)
		}
		got := perlARC{Result: "skipped", Fields: []string{}}
		if res.Sealed {
			got.Result = "sealed"
		} else {
			got.Details = &res.Details
		}
		for _, f := range res.Fields {
			got.Fields = append(got.Fields, f.Name+": "+f.Value)
		}
		if g, w := fmt.Sprintf("%s %q %q", got.Result, deref(got.Details), got.Fields), fmt.Sprintf("%s %q %q", want.Result, deref(want.Details), want.Fields); g != w {
			t.Errorf("%s %v: ARCSign differs from Mail::DKIM::ARC::Signer:\n md-worker:  %s\n Mail::DKIM: %s", name, c, g, w)
		}
		if i == 0 {
			first = strings.Join(got.Fields, "\n") + "\n"
		}

		// MIMEDefang's md_arc_sign: no Timestamp, the time fixed.
		out, err = exec.Command("perl", harness.Testdata(t, "arcsign.pl"), "mimedefang", dir, strconv.Itoa(arcFixedTime), keyFiles[c.key], "-", c.chain, "arc.test", c.srvid, c.key, headers).Output()
		if err != nil {
			t.Fatalf("%s %v: arcsign.pl mimedefang: %v", name, c, err)
		}
		var mdWant map[string]string
		if err := json.Unmarshal(out, &mdWant); err != nil {
			t.Fatalf("%s %v: arcsign.pl mimedefang: %v\n%s", name, c, err, out)
		}
		o.Timestamp = 0
		res, err = dkim.ARCSign(keys[c.key], []byte(msg), o, time.Unix(arcFixedTime, 0))
		if err != nil {
			t.Fatalf("%s %v: ARCSign: %v", name, c, err)
		}
		mdGot := arcMIMEDefangSplit(res)
		if fmt.Sprintf("%q", mdGot) != fmt.Sprintf("%q", mdWant) {
			t.Errorf("%s %v: md_arc_sign differs from MIMEDefang's:\n md-worker:  %q\n MIMEDefang: %q", name, c, mdGot, mdWant)
		}
		if res.Sealed && strings.Contains(res.Fields[1].Value, "t=") {
			t.Errorf("%s %v: md_arc_sign's ARC-Message-Signature has a t= tag: %q", name, c, res.Fields[1].Value)
		}
	}
	return first
}

// arcMIMEDefangSplit is md_arc_sign's hash as MIMEDefang builds it from
// Mail::DKIM's fields: it splits each at the last colon followed by a
// blank, not at the name's, so that results holding ": " (the "colon"
// message) give a wrong name and value. md-worker's md_arc_sign splits at
// the name (res.Map); the comparison applies MIMEDefang's split to our
// fields, so that this is the one difference allowed. The name keeps its
// CRs, as MIMEDefang removes them from the value only.
func arcMIMEDefangSplit(res dkim.ARCResult) map[string]string {
	if !res.Sealed {
		return res.Map()
	}
	m := map[string]string{}
	for _, f := range res.Fields {
		full := f.Name + ": " + strings.ReplaceAll(f.Value, "\n", "\r\n") // as_strings
		for i := len(full) - 2; i >= 0; i-- {
			if full[i] == ':' && strings.ContainsRune(" \t\n\r\f\v", rune(full[i+1])) {
				m[full[:i]] = strings.ReplaceAll(full[i+2:], "\r", "")
				break
			}
		}
	}
	return m
}

func deref(s *string) string {
	if s == nil {
		return "<undef>"
	}
	return *s
}

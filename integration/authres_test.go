package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdgo/md/integration/internal/harness"
	"github.com/mdgo/md/worker/workdir"
)

// TestAuthresAgainstNSD: md_authres through md-worker test against a real
// NSD, on a message signed by MIMEDefang's own md_dkim_sign (Perl): the
// DKIM, SPF (sender and HELO) and BIMI results in the original's words;
// then md_org_domain, md_bimi_get_selector, md_bimi_lookup and
// md_bimi_verify on the same zone.
func TestAuthresAgainstNSD(t *testing.T) {
	requirePerlModules(t, "mimedefang", "Mail::MIMEDefang::DKIM")
	dir := harness.NewTestDir(t)
	keyFile, _, keyTXT := writeRSAKey(t, dir, "key", 2048)
	zone := zoneHead("auth.test") + `@ IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
mail IN A 192.0.2.7
mail IN TXT "v=spf1 a -all"
_dmarc IN TXT "v=DMARC1; p=quarantine; rua=mailto:d@auth.test"
default._bimi IN TXT "v=BIMI1; l=https://auth.test/logo.svg; a=https://auth.test/vmc.pem"
brand._bimi IN TXT "v=BIMI1; l=https://auth.test/brand.svg"
sel._domainkey IN TXT ` + keyTXT + "\n"
	ns := harness.StartNSD(t, harness.NSDOptions{Dir: dir, Zones: map[string]string{"auth.test.": zone}})
	t.Setenv("MD_DNS_SERVERS", ns.Addr)

	raw := "From: Alice <a@auth.test>\nTo: bob@example.net\nSubject: authres\nBIMI-Selector: v=BIMI1; s=brand;\n\nHello.\n"
	mdir := filepath.Join(dir, "msg")
	if err := os.MkdirAll(mdir, 0o755); err != nil {
		t.Fatal(err)
	}
	inputmsg := workdir.Files([]byte(raw), "authres", "NOQUEUE")["INPUTMSG"]
	if err := os.WriteFile(filepath.Join(mdir, "INPUTMSG"), inputmsg, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("perl", harness.Testdata(t, "dkimsign.pl"), mdir, keyFile, "rsa-sha256", "relaxed/simple", "auth.test", "sel").CombinedOutput()
	if err != nil {
		t.Fatalf("dkimsign.pl: %v\n%s", err, out)
	}
	name, value, _ := strings.Cut(string(out), "\n")
	signed := name + ": " + value + "\n" + raw
	bstart := strings.LastIndex(value, "; b=") + len("; b=")
	b8 := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return -1
		}
		return r
	}, value[bstart:])[:8]

	filter := filepath.Join(dir, "authres.lua")
	if err := os.WriteFile(filter, []byte(`function filter_begin(e)
  local ar = md_authres("a@auth.test", "192.0.2.7", "mx.test", "mail.auth.test", "auth.test")
  action_add_header("X-Authres", percent_encode(tostring(ar)))
  local sel = md_bimi_get_selector(e)
  local rec = md_bimi_lookup("auth.test", sel)
  action_add_header("X-BIMI", sel .. " " .. rec.l .. " " .. tostring(rec.a) .. " " ..
    md_bimi_verify("auth.test", "pass", "quarantine", sel) .. " " .. md_bimi_verify("auth.test", "fail", "reject"))
  action_add_header("X-Org", md_org_domain("Mail.Sub.Auth.Test") .. " " .. md_org_domain("www.example.co.uk"))
end
`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runMDWorkerTestRaw(t, dir, filter, []byte(signed))
	want := map[string]string{
		"X-Authres": "mx.test (MIMEDefang);" +
			"\n\tdkim=pass (2048-bit key) header.d=auth.test header.b=" + b8 + ";" +
			"\n\tspf=pass (domain of a@auth.test designates 192.0.2.7 as permitted sender) smtp.mailfrom=a@auth.test;" +
			"\n\tspf=pass (domain of mail.auth.test designates 192.0.2.7 as permitted sender) smtp.helo=mail.auth.test;" +
			"\n\tbimi=pass header.d=auth.test;",
		"X-BIMI": "brand https://auth.test/brand.svg nil pass fail",
		"X-Org":  "auth.test example.co.uk",
	}
	for _, l := range strings.Split(r.out, "\n") {
		for h, w := range want {
			if _, v, ok := strings.Cut(l, h+": "); ok {
				if h == "X-Authres" {
					v = decodePercent(t, v)
				}
				if v != w {
					t.Errorf("%s:\n got %q\nwant %q", h, v, w)
				}
				delete(want, h)
			}
		}
	}
	for h := range want {
		t.Errorf("md-worker test printed no %s:\n%s", h, r.out)
	}
}

package luafilter

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckAllBinding: md_check_all runs the checks asked for and
// returns their results as tables; VirusName follows the scan; spamd
// without a verdict is false, rspamd down its soft reject.
func TestCheckAllBinding(t *testing.T) {
	clamSock := fakeClamd(t)
	spamSock, _ := fakeSpamd(t)
	url, _ := fakeRspamd(t)
	down := filepath.Join(t.TempDir(), "none.sock")
	src := `function H(n, v) action_add_header("X-" .. n, tostring(v)) end
ClamdSock = "` + clamSock + `"
Features["Virus:CLAMD"] = 1
md_spamc_init("` + spamSock + `")
function filter_begin(e)
  local r = md_check_all{virus = true, spamassassin = true, rspamd = "` + url + `"}
  H("virus", r.virus.code .. " " .. r.virus.category .. " " .. r.virus.action .. " " .. r.virus.name)
  H("VirusName", VirusName)
  H("sa", r.spamassassin.hits .. " " .. r.spamassassin.required .. " " .. r.spamassassin.tests .. " " ..
    tostring(r.spamassassin.is_spam) .. " " .. string.sub(r.spamassassin.report, 1, 7))
  H("rspamd", r.rspamd.hits .. " " .. r.rspamd.required .. " " .. r.rspamd.action .. " " .. tostring(r.rspamd.is_spam) ..
    " " .. r.rspamd.tests .. " " .. string.sub(r.rspamd.report, 1, 1))
  H("took", tostring(type(r.took) == "number" and r.took >= r.virus.took and r.took >= r.rspamd.took))
  md_spamc_init("` + down + `")
  local o = md_check_all{spamassassin = true, rspamd = "http://127.0.0.1:1"}
  H("only", tostring(o.virus) .. " " .. tostring(o.spamassassin) .. " " .. o.rspamd.action .. " " .. tostring(o.rspamd.is_spam))
  H("none", tostring(next(md_check_all{rspamd = false})))
  H("bad", tostring(pcall(md_check_all, {rspamd = 1})))
end`
	tw := newTestWorker(t, src)
	res, _, err := tw.scanDir(virusMsg)
	if err != nil {
		t.Fatalf("scan: %v\nlog:\n%s", err, tw.log)
	}
	for _, l := range []string{"HX-virus 1 virus quarantine Fake.Virus", "HX-VirusName Fake.Virus",
		"HX-sa 1.5 5 MISSING_DATE false Content", "HX-rspamd 1 15 no action false MISSING_DATE (1) {",
		"HX-took true", "HX-only nil false soft reject false", "HX-none took", "HX-bad false"} {
		name, value, _ := strings.Cut(l, " ")
		if l = name + " " + strings.ReplaceAll(value, " ", "%20"); !hasLine(res, l) {
			t.Errorf("RESULTS lacks %q:\n%s", l, res)
		}
	}
	if _, err := os.Stat("/dev/log"); err != nil && !strings.Contains(tw.log.String(), "no verdict from spamd at "+down) {
		t.Errorf("log:\n%s", tw.log)
	}
}

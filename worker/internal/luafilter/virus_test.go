package luafilter

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/worker/filter/clamd/clamdtest"
)

// The virus-scanner bindings reach package filter's methods (whose own
// tests cover the outcomes) with their arguments, return the Perl list
// (code, category, action), and keep VirusName, VirusScannerMessages and
// CurrentVirusScannerMessage in step with the Context. clamd is a fake on
// a real Unix socket, clamdscan and clamscan fake programs; the real ones
// are exercised by integration/clamd_test.go.

const virusMarker = clamdtest.Marker

// virusMsg has a text part and an attachment holding the marker.
var virusMsg = "From: sender@example.com\nTo: rcpt@example.org\nSubject: Hello there\nMIME-Version: 1.0\n" +
	"Content-Type: multipart/mixed; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\nclean text\n" +
	"--B\nContent-Type: application/octet-stream; name=\"x.bin\"\nContent-Disposition: attachment; filename=\"x.bin\"\nContent-Transfer-Encoding: base64\n\n" +
	base64.StdEncoding.EncodeToString([]byte("bytes with "+virusMarker)) + "\n--B--\n"

// fakeClamd serves the stand-in clamd of package clamdtest, reporting
// Fake.Virus, and returns its socket.
func fakeClamd(t *testing.T) string { return clamdtest.Start(t, "Fake.Virus").Sock }

// fakeClamscan writes a program that prints "<file>: Fake.Virus FOUND"
// and exits 1 when its last argument holds the marker, else exits 0.
func fakeClamscan(t *testing.T) string {
	t.Helper()
	prog := filepath.Join(t.TempDir(), "clamscan")
	script := "#!/bin/sh\nfor last; do :; done\nhit=$(grep -rl " + virusMarker + " \"$last\" | head -1)\n" +
		"if [ -n \"$hit\" ]; then echo \"$hit: Fake.Virus FOUND\"; exit 1; fi\nexit 0\n"
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return prog
}

func TestVirusBindings(t *testing.T) {
	sock := fakeClamd(t)
	scanner := fakeClamscan(t)
	for _, tc := range []bindingCase{
		{name: "clamd", msg: virusMsg,
			src: `ClamdSock = "` + sock + `"
function filter_begin(e)
  H("defaults", ClamdMode .. " " .. ClamdWriteTimeout .. " " .. ClamdReadTimeout .. " " .. CurrentVirusScannerMessage)
  VirusScannerMessages = "before; "
  local code, category, action = message_contains_virus_clamd()
  H("msg", code .. " " .. category .. " " .. action)
  H("name", VirusName) H("msgs", VirusScannerMessages)
  H("down", table.concat({message_contains_virus_clamd(CWD .. "/none.sock")}, " "))
  VirusName = "set by the filter"
end
function filter(e, fname)
  H("part-" .. fname, table.concat({entity_contains_virus_clamd(e)}, " ") .. " " .. VirusName)
end
function filter_multipart(e)
  H("container", table.concat({entity_contains_virus_clamd(e, CWD .. "/none.sock")}, " "))
end`,
			lines: []string{"HX-defaults INSTREAM 30 60 ", "HX-msg 1 virus quarantine", "HX-name Fake.Virus",
				"HX-msgs before;%20clamd%20found%20the%20Fake.Virus%20virus.%0A", "HX-down 999 cannot-execute tempfail",
				"HX-part- 0 ok ok set%20by%20the%20filter", "HX-part-x.bin 1 virus quarantine Fake.Virus"},
			syslogLog: []string{"QID123: Could not connect to clamd daemon at "},
		},
		{name: "clamd SCAN", msg: virusMsg,
			src: `ClamdSock = "` + sock + `" ClamdMode = "scan" ClamdReadTimeout = 2.5
function filter_begin(e)
  H("mode", ClamdMode .. " " .. ClamdReadTimeout)
  H("msg", table.concat({message_contains_virus_clamd()}, " "))
end`,
			lines: []string{"HX-mode scan 2.5", "HX-msg 1 virus quarantine"},
			check: func(t *testing.T, tw *testWorker, dir string) {
				if ents, _ := os.ReadDir(filepath.Join(dir, "Work")); len(ents) != 2 {
					t.Errorf("Work holds %d files, want 2", len(ents))
				}
				if c := tw.w.Config().Clamd; c.Mode != "SCAN" || c.ReadTimeout != 2500*time.Millisecond {
					t.Errorf("Config.Clamd %+v", c)
				}
			},
		},
		{name: "clamdscan and clamscan", msg: virusMsg,
			src: `Features["Virus:CLAMDSCAN"] = "` + scanner + `"
Features["Virus:CLAMAV"] = "` + scanner + `"
function filter_begin(e)
  H("dscan", table.concat({message_contains_virus_clamdscan()}, " ") .. " " .. VirusName)
  H("scan", table.concat({message_contains_virus_clamav()}, " "))
  H("current", string.find(CurrentVirusScannerMessage, "Fake.Virus FOUND", 1, true) ~= nil)
end
function filter(e, fname)
  H("d-" .. fname, table.concat({entity_contains_virus_clamdscan(e)}, " "))
  H("c-" .. fname, table.concat({entity_contains_virus_clamav(e)}, " "))
end`,
			lines: []string{"HX-dscan 1 virus quarantine Fake.Virus", "HX-scan 1 virus quarantine", "HX-current true",
				"HX-d- 0 ok ok", "HX-d-x.bin 1 virus quarantine", "HX-c- 0 ok ok", "HX-c-x.bin 1 virus quarantine"},
		},
		{name: "run_virus_scanner", msg: virusMsg,
			src: `function filter_begin(e)
  H("table", table.concat({run_virus_scanner({"/bin/sh", "-c", "echo one; echo two; exit 3"}, "TWO")}, " "))
  H("current", CurrentVirusScannerMessage)
  H("line", table.concat({run_virus_scanner("/bin/echo hello 2>&1")}, " ") .. " " .. CurrentVirusScannerMessage)
  H("shell", table.concat({run_virus_scanner("/bin/echo a | wc")}, " "))
  CurrentVirusScannerMessage = "x: Named.Virus FOUND"
  H("interpret", table.concat({interpret_clamav_code(1)}, " ") .. " " .. VirusName)
  H("interpret2", table.concat({interpret_clamav_code("2")}, " "))
end`,
			lines: []string{"HX-table 3 ok proceed", "HX-current two%0A", "HX-line 0 ok proceed hello%0A",
				"HX-shell 999 cannot-execute tempfail", "HX-interpret 1 virus quarantine Named.Virus", "HX-interpret2 2 swerr tempfail"},
			syslogLog: []string{`run_virus_scanner: Unable to execute /bin/echo a | wc: "|" needs a shell`},
		},
		{name: "message_contains_virus", msg: virusMsg,
			src: `ClamdSock = "` + sock + `"
Features["Virus:CLAMD"] = 1
function filter_begin(e)
  H("init", select('#', initialize_virus_scanner_routines()))
  H("msg", table.concat({message_contains_virus()}, " "))
end
function filter(e, fname)
  H("e-" .. fname, table.concat({entity_contains_virus(e)}, " "))
end`,
			lines: []string{"HX-init 0", "HX-msg 1 virus quarantine", "HX-e- 0 ok ok", "HX-e-x.bin 1 virus quarantine"},
		},
		{name: "no scanner", msg: virusMsg,
			src:   `function filter_begin(e) H("msg", table.concat({message_contains_virus()}, " ")) end`,
			lines: []string{"HX-msg 0 ok ok"},
		},
	} {
		tc.lines = encodedValues(tc.lines)
		t.Run(tc.name, func(t *testing.T) { runBindingCase(t, tc) })
	}
}

// TestVirusArgumentErrors: the entity functions need an entity, and
// interpret_clamav_code a number.
func TestVirusArgumentErrors(t *testing.T) {
	for _, src := range []string{"entity_contains_virus_clamd('x')", "entity_contains_virus()", "interpret_clamav_code()", "interpret_clamav_code('x')"} {
		tw := newTestWorker(t, "function filter_begin(e)\n  "+src+"\nend\n")
		if _, err := tw.scan(plainMsg); err == nil || !strings.Contains(err.Error(), "filter.lua:2:") {
			t.Errorf("%s: err = %v, want an argument error at line 2", src, err)
		}
	}
}

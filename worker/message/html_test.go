package message

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// htmlCases reads the inputs of TestAppendHTMLMatchesHTMLParser,
// testdata/html-cases.json (a JSON array of strings): add a case there and
// record the oracle again (testdata/record-oracles.sh).
func htmlCases(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "html-cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []string
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatalf("testdata/html-cases.json: %v", err)
	}
	return cases
}

// htmlOracle returns what MIMEDefang's append_to_html_part logic
// (HTML::Parser with the html_echo/html_end handlers, testdata/html-oracle.pl)
// made of each input, as recorded in testdata/oracles/html.json.
func htmlOracle(t *testing.T, inputs []string) []string {
	t.Helper()
	path := filepath.Join(oracleDir(), "html.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("recorded HTML::Parser output: %v: run %s", err, recordCommand)
	}
	var recorded []struct{ In, Out string }
	if err := json.Unmarshal(b, &recorded); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(recorded) != len(inputs) {
		t.Fatalf("%s holds %d results for %d cases in testdata/html-cases.json: run %s", path, len(recorded), len(inputs), recordCommand)
	}
	var res []string
	for i, r := range recorded {
		if r.In != inputs[i] {
			t.Fatalf("%s: result %d is for %q, the case is %q: run %s", path, i, r.In, inputs[i], recordCommand)
		}
		res = append(res, r.Out)
	}
	return res
}

func TestAppendHTMLMatchesHTMLParser(t *testing.T) {
	cases := htmlCases(t)
	want := htmlOracle(t, cases)
	if len(want) != len(cases) {
		t.Fatalf("oracle returned %d results for %d cases", len(want), len(cases))
	}
	for i, in := range cases {
		got := insertHTML([]byte(in), "B")
		if !bytes.Equal(got, []byte(want[i])) {
			t.Errorf("insertHTML(%q) = %q, HTML::Parser gives %q", in, got, want[i])
		}
	}
}

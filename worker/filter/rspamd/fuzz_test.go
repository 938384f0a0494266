package rspamd

import "testing"

// FuzzParseReply: ParseReply never panics, and garbage never passes for a
// verdict: what it accepts has an action and finite scores, and is_spam
// follows hits >= required.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{
		`{"score":16.5,"required_score":15,"action":"reject","symbols":{"GTUBE":{"name":"GTUBE","score":15.5}}}`,
		`{"score":0,"required_score":15,"action":"no action","symbols":{}}`,
		`{"error":"x"}`, `garbage`, ``, `{"score":1e999,"required_score":1,"action":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseReply(b)
		if err != nil {
			if r.OK {
				t.Fatal("OK with an error")
			}
			return
		}
		if !r.OK || r.Hits != r.Hits || r.Required != r.Required {
			t.Fatalf("accepted %q as %+v", b, r)
		}
		if (r.IsSpam == "true") != (r.Hits >= r.Required) || (r.IsSpam != "true" && r.IsSpam != "false") {
			t.Fatalf("is_spam %q for %v / %v", r.IsSpam, r.Hits, r.Required)
		}
	})
}

package rspamd

import (
	"testing"
)

func TestParseReply(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Result
		err      bool
	}{
		{name: "spam", in: `{"is_skipped":false,"score":16.5,"required_score":15,"action":"reject","symbols":{"Z":{"name":"Z","score":0.1},"GTUBE":{"name":"GTUBE","score":15.5},"NEG":{"name":"NEG","score":-1}}}`,
			want: Result{OK: true, Hits: 16.5, Required: 15, Tests: "GTUBE (15.5), NEG (-1), Z (0.1)", Action: "reject", IsSpam: "true"}},
		{name: "clean", in: `{"score":0,"required_score":15,"action":"no action","symbols":{}}`,
			want: Result{OK: true, Required: 15, Action: "no action", IsSpam: "false"}},
		{name: "no symbols", in: `{"score":0,"required_score":15,"action":"reject","messages":{"smtp_message":"Gtube pattern"}}`,
			want: Result{OK: true, Required: 15, Action: "reject", IsSpam: "false"}},
		{name: "symbol without score", in: `{"score":1,"required_score":15,"action":"no action","symbols":{"A":{"name":"A"}}}`,
			want: Result{OK: true, Hits: 1, Required: 15, Tests: "A (0)", Action: "no action", IsSpam: "false"}},
		{name: "error", in: `{"error":"cannot parse input"}`, err: true},
		{name: "not json", in: `<html>hello</html>`, err: true},
		{name: "empty", in: ``, err: true},
		{name: "no action", in: `{"score":1,"required_score":15}`, err: true},
		{name: "string score", in: `{"score":"1","required_score":15,"action":"reject"}`, err: true},
		{name: "array", in: `[1,2]`, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseReply([]byte(tc.in))
			if tc.err {
				if err == nil {
					t.Fatalf("no error: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Report = tc.in
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestSoftReject(t *testing.T) {
	v := SoftReject().Values()
	want := []any{0.0, 0.0, "", "", "soft reject", "false"}
	for i := range want {
		if v[i] != want[i] {
			t.Errorf("value %d: %#v, want %#v", i, v[i], want[i])
		}
	}
}

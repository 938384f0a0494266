package proto

import (
	"fmt"
	"testing"
)

func TestFreeReply(t *testing.T) {
	if got := FreeReply(1); got != "1\n" {
		t.Errorf("FreeReply(1) = %q", got)
	}
	tests := []struct {
		raw  string
		want int
		bad  bool
	}{
		{raw: "1\n", want: 1}, // golden
		{raw: "0\n", want: 0},
		{raw: "12", want: 12},
		{raw: "  7 workers\n", want: 7},
		{raw: "-1\n", want: -1},
		{raw: "+3\n", want: 3},
		{raw: "\n", bad: true},
		{raw: "", bad: true},
		{raw: "-\n", bad: true},
		{raw: "error: Unknown command\n", bad: true},
		{raw: "99999999999999999999999\n", bad: true},
	}
	for _, tt := range tests {
		got, err := ParseFreeReply(tt.raw)
		if tt.bad {
			if err == nil || !IsBadReply(err) {
				t.Errorf("ParseFreeReply(%q) = %d, %v; want a bad-reply error", tt.raw, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseFreeReply(%q) = %d, %v; want %d", tt.raw, got, err, tt.want)
		}
	}
}

func TestMapReply(t *testing.T) {
	tests := []struct {
		name string
		line string
		want MapReply
		out  string // "" means line
	}{
		{"ok", "OK foo%20bar\n", MapReply{Code: MapOK, Value: "foo bar"}, ""},
		{"notfound keeps its space", "NOTFOUND \n", MapReply{Code: MapNotFound}, ""},
		{"no space", "NOTFOUND\n", MapReply{Code: MapNotFound}, "NOTFOUND \n"},
		{"no newline", "TEMP busy", MapReply{Code: MapTemp, Value: "busy"}, "TEMP busy\n"},
		{"Perl's unencoded PERM text", "PERM No filter_map function defined\n",
			MapReply{Code: MapPerm, Value: "No filter_map function defined"}, "PERM No%20filter_map%20function%20defined\n"},
		{"invalid code passes", "BOGUS x\n", MapReply{Code: "BOGUS", Value: "x"}, ""},
		{"8-bit and quotes", "OK %C3%A9%22%5C\n", MapReply{Code: MapOK, Value: "\xc3\xa9\"\\"}, ""},
		{"CR kept", "TIMEOUT a\r\n", MapReply{Code: MapTimeout, Value: "a\r"}, "TIMEOUT a%0D\n"},
		{"leading space: empty code", " x\n", MapReply{Value: "x"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMapReply(tt.line)
			if err != nil {
				t.Fatalf("ParseMapReply(%q): %v", tt.line, err)
			}
			if got != tt.want {
				t.Errorf("ParseMapReply(%q) = %+v, want %+v", tt.line, got, tt.want)
			}
			out := tt.out
			if out == "" {
				out = tt.line
			}
			if l := got.Line(); l != out {
				t.Errorf("Line() = %q, want %q", l, out)
			}
		})
	}
	for _, line := range []string{"", "\n"} {
		if _, err := ParseMapReply(line); !IsBadReply(err) {
			t.Errorf("ParseMapReply(%q) error = %v, want a bad-reply error", line, err)
		}
	}
}

func TestSimpleWorkerReplies(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{TickReply(0), "tock 0\n"},
		{TickReply(12), "tock 12\n"},
		{PingReply, "PONG\n"},
		{ErrorReply("Unknown command"), "error: Unknown command\n"},
		{ErrorReply("tick 3: filter_tick undefined"), "error: tick 3: filter_tick undefined\n"},
		{ErrorReply("two\nlines\r\n"), "error: two lines  \n"},
		{ErrorReply(""), "error: \n"},
		{ScanOK, "ok\n"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	// An error line is never a successful check reply.
	if _, err := ParseCheckReply(ErrorReply("x")); !IsBadReply(err) {
		t.Errorf("ParseCheckReply(ErrorReply) error = %v", err)
	}
}

func ExampleMapReply() {
	fmt.Print(MapReply{Code: MapOK, Value: "smtp:[relay.example.com]"}.Line())
	fmt.Printf("%q\n", MapReply{Code: MapNotFound}.Line())
	r, _ := ParseMapReply("OK foo%20bar\n")
	fmt.Printf("%s %q\n", r.Code, r.Value)
	// Output:
	// OK smtp:[relay.example.com]
	// "NOTFOUND \n"
	// OK "foo bar"
}

package proto

import (
	"fmt"
	"testing"
)

func TestParseCheckReply(t *testing.T) {
	text := func(v Verdict, msg, code, dsn string, delay int) CheckReply {
		return CheckReply{Verdict: v, HasText: true, Msg: msg, Code: code, DSN: dsn, Delay: delay}
	}
	tests := []struct {
		name string
		raw  string
		want CheckReply
		bad  bool
	}{
		// Step 1: the bare forms, compared byte for byte.
		{name: "bare tempfail", raw: "ok -1\n", want: CheckReply{Verdict: TempFail}},
		{name: "bare reject", raw: "ok 0\n", want: CheckReply{Verdict: Reject}},
		{name: "bare continue", raw: "ok 1\n", want: CheckReply{Verdict: Continue}},
		{name: "bare accept", raw: "ok 2\n", want: CheckReply{Verdict: AcceptNoMoreFiltering}},
		{name: "bare discard", raw: "ok 3\n", want: CheckReply{Verdict: Discard}},
		{name: "bare without newline", raw: "ok 1", bad: true},
		{name: "bare with CRLF", raw: "ok 1\r\n", bad: true},
		{name: "bare with two newlines", raw: "ok 0\n\n", bad: true},
		{name: "bare then NUL and junk", raw: "ok 1\n\x00junk", want: CheckReply{Verdict: Continue}},
		{name: "NUL cuts the reply", raw: "ok 1\x00 x 250 2.1.0 0\n", bad: true},
		{name: "NUL cuts the tail", raw: "ok 0 a\x00b 554 5.7.1 0\n", want: text(Reject, "a", "", "", 0)},

		// Step 3: the prefixes with a tail.
		{name: "golden continue", raw: "ok 1 ok 250 2.1.0 0\n", want: text(Continue, "ok", "250", "2.1.0", 0)},
		{name: "reject", raw: "ok 0 Go%20away 554 5.7.1 0\n", want: text(Reject, "Go away", "554", "5.7.1", 0)},
		{name: "tempfail with delay", raw: "ok -1 busy 451 4.3.0 5\n", want: text(TempFail, "busy", "451", "4.3.0", 5)},
		{name: "accept", raw: "ok 2 ok 250 2.1.0 0\n", want: text(AcceptNoMoreFiltering, "ok", "250", "2.1.0", 0)},
		{name: "discard", raw: "ok 3 ok 250 2.1.0 0\n", want: text(Discard, "ok", "250", "2.1.0", 0)},
		{name: "no final newline", raw: "ok 0 x", want: text(Reject, "x", "", "", 0)},
		{name: "message only", raw: "ok 1 x\n", want: text(Continue, "x", "", "", 0)},
		{name: "empty message field", raw: "ok 0  554 5.7.1 0\n", want: text(Reject, "", "554", "5.7.1", 0)},
		{name: "decoded fields", raw: "ok 0 msg%20with%25 5%2054 5.7.1 0\n", want: text(Reject, "msg with%", "5 54", "5.7.1", 0)},
		{name: "quotes and backslash", raw: "ok 0 %22a%5Cb%27 554 5.7.1 0\n", want: text(Reject, `"a\b'`, "554", "5.7.1", 0)},
		{name: "8-bit", raw: "ok 0 caf%C3%A9\xff 554 5.7.1 0\n", want: text(Reject, "caf\xc3\xa9\xff", "554", "5.7.1", 0)},
		{name: "tab splits like a space", raw: "ok 0 tab\there 5.7.1 0\n", want: text(Reject, "tab", "here", "5.7.1", 0)},
		{name: "delay with extra words", raw: "ok 0 m 554 5.7.1 12 extra\n", want: text(Reject, "m", "554", "5.7.1", 12)},
		{name: "delay not a number", raw: "ok 0 m 554 5.7.1 abc\n", want: text(Reject, "m", "554", "5.7.1", 0)},
		{name: "delay after spaces", raw: "ok 0 m 554 5.7.1  7\n", want: text(Reject, "m", "554", "5.7.1", 7)},
		{name: "negative delay", raw: "ok 0 m 554 5.7.1 -3\n", want: text(Reject, "m", "554", "5.7.1", -3)},
		{name: "encoded delay", raw: "ok 0 m 554 5.7.1 %35\n", want: text(Reject, "m", "554", "5.7.1", 5)},
		{name: "plus-signed delay", raw: "ok 1 m 250 2.1.0 +4\n", want: text(Continue, "m", "250", "2.1.0", 4)},

		// Step 2: every CR and LF is deleted before the prefixes are tried.
		{name: "CR inside", raw: "ok 0 a\rb 554 5.7.1 0\r\n", want: text(Reject, "ab", "554", "5.7.1", 0)},
		{name: "LF inside", raw: "ok 0 a\nb 554 5.7.1 0\n", want: text(Reject, "ab", "554", "5.7.1", 0)},
		{name: "LF joins the tail", raw: "ok 0 \nx", want: text(Reject, "x", "", "", 0)},
		{name: "CRLF inside the prefix", raw: "ok\r\n 0 x\n", want: text(Reject, "x", "", "", 0)},
		{name: "CR inside the bare form", raw: "ok -1\r x\n", want: text(TempFail, "x", "", "", 0)},

		// "ok 0 " edge cases: the prefix needs at least one byte after it.
		{name: "ok 0 space only", raw: "ok 0 \n", bad: true},
		{name: "ok 0 space no newline", raw: "ok 0 ", bad: true},
		{name: "ok -1 space only", raw: "ok -1 \n", bad: true},
		{name: "ok 1 space only", raw: "ok 1 \r\n", bad: true},
		{name: "ok 0 two spaces", raw: "ok 0  \n", want: text(Reject, "", "", "", 0)},
		{name: "ok 01", raw: "ok 01 x\n", bad: true},
		{name: "ok 10", raw: "ok 10 x\n", bad: true},
		{name: "ok -10", raw: "ok -10 x\n", bad: true},

		// Step 4: anything else.
		{name: "ok 4", raw: "ok 4\n", bad: true},
		{name: "ok 4 with text", raw: "ok 4 x 250 2.1.0 0\n", bad: true},
		{name: "ok -2", raw: "ok -2\n", bad: true},
		{name: "scan ok", raw: "ok\n", bad: true},
		{name: "error reply", raw: "error: No free workers\n", bad: true},
		{name: "ERR reply", raw: "ERR Busy timeout on worker\n", bad: true},
		{name: "empty", raw: "", bad: true},
		{name: "newline only", raw: "\n", bad: true},
		{name: "upper case", raw: "OK 1\n", bad: true},
		{name: "leading space", raw: " ok 1\n", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCheckReply(tt.raw)
			if tt.bad {
				if err == nil {
					t.Fatalf("ParseCheckReply(%q) = %+v, want an error", tt.raw, got)
				}
				if !IsBadReply(err) {
					t.Errorf("IsBadReply(%v) = false", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCheckReply(%q): %v", tt.raw, err)
			}
			if got != tt.want {
				t.Errorf("ParseCheckReply(%q) = %+v, want %+v", tt.raw, got, tt.want)
			}
			again, err := ParseCheckReply(got.Line())
			if err != nil || again != got {
				t.Errorf("re-parse of %q = %+v, %v; want %+v", got.Line(), again, err, got)
			}
		})
	}
}

func TestParseCheckReplyError(t *testing.T) {
	_, err := ParseCheckReply("error: No free workers\n")
	if got, want := err.Error(), `proto: unrecognised reply: "error: No free workers"`; got != want {
		t.Errorf("error text = %q, want %q", got, want)
	}
}

// TestNewCheckReply is the table of docs/reference/protocol.md §6.4.4.
func TestNewCheckReply(t *testing.T) {
	tests := []struct {
		name      string
		v         Verdict
		msg       string
		code, dsn string
		delay     int
		line      string
	}{
		{"continue defaults", Continue, "", "", "", 0, "ok 1 ? 250 2.1.0 0\n"},
		{"filter default answer", Continue, "ok", "", "", 0, "ok 1 ok 250 2.1.0 0\n"},
		{"accept defaults", AcceptNoMoreFiltering, "", "", "", 0, "ok 2 ? 250 2.1.0 0\n"},
		{"discard defaults", Discard, "", "", "", 0, "ok 3 ? 250 2.1.0 0\n"},
		{"tempfail defaults", TempFail, "", "", "", 0, "ok -1 ? 451 4.3.0 0\n"},
		{"reject defaults", Reject, "", "", "", 0, "ok 0 ? 554 5.7.1 0\n"},
		{"continue keeps 2xx", Continue, "m", "251", "2.1.5", 0, "ok 1 m 251 2.1.5 0\n"},
		{"tempfail keeps 4xx", TempFail, "m", "421", "4.7.0", 0, "ok -1 m 421 4.7.0 0\n"},
		{"reject keeps 5xx", Reject, "m", "550", "5.1.1", 0, "ok 0 m 550 5.1.1 0\n"},
		{"reject replaces 4xx", Reject, "m", "451", "4.7.1", 0, "ok 0 m 554 5.7.1 0\n"},
		{"continue replaces 5xx", Continue, "m", "554", "5.7.1", 0, "ok 1 m 250 2.1.0 0\n"},
		{"tempfail replaces 2xx", TempFail, "m", "250", "2.1.0", 0, "ok -1 m 451 4.3.0 0\n"},
		{"code too short", Reject, "m", "55", "5.7.1", 0, "ok 0 m 554 5.7.1 0\n"},
		{"code too long", Reject, "m", "5500", "5.7.1", 0, "ok 0 m 554 5.7.1 0\n"},
		{"code not digits", Reject, "m", "5x4", "5.7.1", 0, "ok 0 m 554 5.7.1 0\n"},
		{"code with space", Reject, "m", "550 ", "5.7.1", 0, "ok 0 m 554 5.7.1 0\n"},
		{"DSN widest", Reject, "m", "550", "5.123.999", 0, "ok 0 m 550 5.123.999 0\n"},
		{"DSN too few parts", Reject, "m", "550", "5.7", 0, "ok 0 m 550 5.7.1 0\n"},
		{"DSN too many parts", Reject, "m", "550", "5.7.1.1", 0, "ok 0 m 550 5.7.1 0\n"},
		{"DSN part too long", Reject, "m", "550", "5.1234.1", 0, "ok 0 m 550 5.7.1 0\n"},
		{"DSN with trailing space", Reject, "m", "550", "5.7.1 ", 0, "ok 0 m 550 5.7.1 0\n"},
		{"Perl $ allows a final newline", Reject, "m", "550\n", "5.7.1\n", 0, "ok 0 m 550%0A 5.7.1%0A 0\n"},
		{"but not two", Reject, "m", "550\n\n", "5.7.1", 0, "ok 0 m 554 5.7.1 0\n"},
		{"negative delay", Continue, "m", "", "", -1, "ok 1 m 250 2.1.0 0\n"},
		{"delay kept", Reject, "m", "", "", 30, "ok 0 m 554 5.7.1 30\n"},
		{"integer > 3 is continue", Verdict(7), "m", "", "", 0, "ok 1 m 250 2.1.0 0\n"},
		{"integer < -1 is tempfail", Verdict(-5), "m", "", "", 0, "ok -1 m 451 4.3.0 0\n"},
		{"message encoded", Reject, "No \"spam\", 100%\r\nbye", "", "", 0, "ok 0 No%20%22spam%22,%20100%25%0D%0Abye 554 5.7.1 0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewCheckReply(tt.v, tt.msg, tt.code, tt.dsn, tt.delay)
			if got := r.Line(); got != tt.line {
				t.Errorf("Line() = %q, want %q", got, tt.line)
			}
			back, err := ParseCheckReply(r.Line())
			if err != nil || back != r {
				t.Errorf("ParseCheckReply(%q) = %+v, %v; want %+v", r.Line(), back, err, r)
			}
		})
	}
}

func TestCheckReplyLineBare(t *testing.T) {
	for v, want := range map[Verdict]string{TempFail: "ok -1\n", Reject: "ok 0\n", Continue: "ok 1\n",
		AcceptNoMoreFiltering: "ok 2\n", Discard: "ok 3\n"} {
		if got := (CheckReply{Verdict: v}).Line(); got != want {
			t.Errorf("%v: Line() = %q, want %q", v, got, want)
		}
	}
}

func TestVerdictString(t *testing.T) {
	for v, want := range map[Verdict]string{TempFail: "tempfail", Reject: "reject", Continue: "continue",
		AcceptNoMoreFiltering: "accept", Discard: "discard", Verdict(9): "verdict(9)"} {
		if got := v.String(); got != want {
			t.Errorf("Verdict(%d).String() = %q, want %q", int(v), got, want)
		}
	}
}

func ExampleParseCheckReply() {
	for _, raw := range []string{
		"ok 1\n",
		"ok 0 Go%20away 550 5.7.1 0\n",
		"ok -1 Busy 451 4.3.0 5\n",
		"ok 1 \n",
		"error: No free workers\n",
	} {
		r, err := ParseCheckReply(raw)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%v text=%v msg=%q code=%s dsn=%s delay=%d\n", r.Verdict, r.HasText, r.Msg, r.Code, r.DSN, r.Delay)
	}
	// Output:
	// continue text=false msg="" code= dsn= delay=0
	// reject text=true msg="Go away" code=550 dsn=5.7.1 delay=0
	// tempfail text=true msg="Busy" code=451 dsn=4.3.0 delay=5
	// proto: unrecognised reply: "ok 1 "
	// proto: unrecognised reply: "error: No free workers"
}

func ExampleNewCheckReply() {
	// A filter_recipient that rejects with a 4xx code: the code and DSN
	// are replaced by the reject defaults.
	fmt.Print(NewCheckReply(Reject, "No such user", "450", "4.1.1", 0).Line())
	fmt.Print(NewCheckReply(Continue, "", "", "", 0).Line())
	// Output:
	// ok 0 No%20such%20user 554 5.7.1 0
	// ok 1 ? 250 2.1.0 0
}

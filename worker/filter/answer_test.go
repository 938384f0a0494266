package filter

import "testing"

// TestAnswerReply covers every row of send_filter_answer
// (docs/reference/protocol.md §6.4.4): verdict keywords and integers, defaults and pattern checks for
// code and DSN per class, "?" for an empty message, delay handling and
// percent-encoding.
func TestAnswerReply(t *testing.T) {
	cases := []struct {
		a    Answer
		want string
	}{
		// Verdict selection.
		{Answer{Verdict: Continue, Msg: "ok"}, "ok 1 ok 250 2.1.0 0\n"},
		{Answer{Verdict: AcceptAndNoMoreFiltering, Msg: "ok"}, "ok 2 ok 250 2.1.0 0\n"},
		{Answer{Verdict: Discard, Msg: "bye"}, "ok 3 bye 250 2.1.0 0\n"},
		{Answer{Verdict: TempFail, Msg: "later"}, "ok -1 later 451 4.3.0 0\n"},
		{Answer{Verdict: Reject, Msg: "no"}, "ok 0 no 554 5.7.1 0\n"},
		{Answer{Verdict: Int(1)}, "ok 1 ? 250 2.1.0 0\n"},
		{Answer{Verdict: Int(42)}, "ok 1 ? 250 2.1.0 0\n"},
		{Answer{Verdict: Int(0)}, "ok 0 ? 554 5.7.1 0\n"},
		{Answer{Verdict: Int(-1)}, "ok -1 ? 451 4.3.0 0\n"},
		{Answer{Verdict: Int(-7)}, "ok -1 ? 451 4.3.0 0\n"},
		{Answer{Verdict: "00"}, "ok 0 ? 554 5.7.1 0\n"},
		{Answer{Verdict: "-0"}, "ok 0 ? 554 5.7.1 0\n"},
		{Answer{Verdict: "007"}, "ok 1 ? 250 2.1.0 0\n"},
		{Answer{Verdict: "1\n"}, "ok 1 ? 250 2.1.0 0\n"},
		{Answer{Verdict: "1.5"}, "ok 0 ? 554 5.7.1 0\n"},
		{Answer{}, "ok 0 ? 554 5.7.1 0\n"}, // undef rejects
		{Answer{Verdict: "ACCEPT"}, "ok 0 ? 554 5.7.1 0\n"},
		{Answer{Verdict: "continue"}, "ok 0 ? 554 5.7.1 0\n"}, // case matters
		// Codes and DSNs kept when they match the class.
		{Answer{Verdict: Reject, Msg: "no", Code: "550", DSN: "5.1.1"}, "ok 0 no 550 5.1.1 0\n"},
		{Answer{Verdict: TempFail, Msg: "m", Code: "421", DSN: "4.7.0"}, "ok -1 m 421 4.7.0 0\n"},
		{Answer{Verdict: Continue, Msg: "m", Code: "251", DSN: "2.0.0"}, "ok 1 m 251 2.0.0 0\n"},
		{Answer{Verdict: Discard, Msg: "m", Code: "252", DSN: "2.999.999"}, "ok 3 m 252 2.999.999 0\n"},
		{Answer{Verdict: AcceptAndNoMoreFiltering, Msg: "m", Code: "299", DSN: "2.1.5"}, "ok 2 m 299 2.1.5 0\n"},
		// ... and replaced when they do not.
		{Answer{Verdict: Reject, Msg: "m", Code: "451", DSN: "4.3.0"}, "ok 0 m 554 5.7.1 0\n"},
		{Answer{Verdict: TempFail, Msg: "m", Code: "550", DSN: "5.7.1"}, "ok -1 m 451 4.3.0 0\n"},
		{Answer{Verdict: Continue, Msg: "m", Code: "554", DSN: "5.7.1"}, "ok 1 m 250 2.1.0 0\n"},
		{Answer{Verdict: Reject, Msg: "m", Code: "5500", DSN: "5.1234.1"}, "ok 0 m 554 5.7.1 0\n"},
		{Answer{Verdict: Reject, Msg: "m", Code: "55", DSN: "5.1"}, "ok 0 m 554 5.7.1 0\n"},
		{Answer{Verdict: Reject, Msg: "m", Code: " 550", DSN: "x5.1.1"}, "ok 0 m 554 5.7.1 0\n"},
		// Delay.
		{Answer{Verdict: Reject, Msg: "m", Delay: 5}, "ok 0 m 554 5.7.1 5\n"},
		{Answer{Verdict: Continue, Msg: "m", Delay: -3}, "ok 1 m 250 2.1.0 0\n"},
		// Percent-encoding of msg (wide set: space, %, quotes, backslash, 8-bit).
		{Answer{Verdict: Reject, Msg: "Go away, 100% \"spam\" \\ caf\xc3\xa9"}, "ok 0 Go%20away,%20100%25%20%22spam%22%20%5C%20caf%C3%A9 554 5.7.1 0\n"},
		{Answer{Verdict: TempFail, Msg: "line1\nline2"}, "ok -1 line1%0Aline2 451 4.3.0 0\n"},
		// Perl's $ lets a final newline through the code pattern.
		{Answer{Verdict: Reject, Msg: "m", Code: "550\n"}, "ok 0 m 550%0A 5.7.1 0\n"},
	}
	for _, tc := range cases {
		if got := tc.a.Reply(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.a, got, tc.want)
		}
	}
}

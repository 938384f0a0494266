package mxctrl

import (
	"strings"
	"testing"
)

func TestBuildCommand(t *testing.T) {
	tests := []struct {
		name  string
		words []string
		want  string
	}{
		{"one word", []string{"status"}, "status\n"},
		{"two words", []string{"load1", "60"}, "load1 60\n"},
		{"one word with a space", []string{"load1 60"}, "load1%2060\n"},
		{"wide escape set", []string{"NoSuchCommand", "arg1", "arg with space", `q"'\%`, "tab\there", "\xc3\xa9\x7f"},
			"NoSuchCommand arg1 arg%20with%20space q%22%27%5C%25 tab%09here %C3%A9%7F\n"},
		{"empty words", []string{"", "x", ""}, " x \n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := BuildCommand(tc.words); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestBuildCommandLimit checks the original's buffer arithmetic at the
// 262144-byte limit: a line that fills the buffer loses its newline, and
// an escape is never split.
func TestBuildCommandLimit(t *testing.T) {
	const room = MaxCommand - 1 // bytes the buffer holds before its NUL
	tests := []struct {
		name  string
		words []string
		want  string
	}{
		{"just fits", []string{strings.Repeat("a", room-1)}, strings.Repeat("a", room-1) + "\n"},
		{"fills the buffer", []string{strings.Repeat("a", room)}, strings.Repeat("a", room)},
		{"too long", []string{strings.Repeat("a", room+10)}, strings.Repeat("a", room)},
		{"escape not split", []string{strings.Repeat("a", room-2) + " b"}, strings.Repeat("a", room-2) + "\n"},
		{"escape just fits", []string{strings.Repeat("a", room-3) + " b"}, strings.Repeat("a", room-3) + "%20"},
		{"second word cut", []string{strings.Repeat("a", room-5), "bcdef"}, strings.Repeat("a", room-5) + " bcde"},
		{"space fills the buffer", []string{strings.Repeat("a", room-1), "b"}, strings.Repeat("a", room-1) + " "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := BuildCommand(tc.words)
			if got != tc.want {
				t.Errorf("got %d bytes ending %q, want %d bytes ending %q",
					len(got), got[max(0, len(got)-8):], len(tc.want), tc.want[max(0, len(tc.want)-8):])
			}
		})
	}
}

func TestPlanFor(t *testing.T) {
	tests := []struct {
		line string
		want Plan
	}{
		{"status\n", Plan{Send: "status\n", Kind: Status}},
		{"barstatus\n", Plan{Send: "status\n", Kind: BarStatus}},
		{"jsonstatus\n", Plan{Send: "status\n", Kind: JSONStatus}},
		{"rawstatus\n", Plan{Send: "status\n", Kind: Raw}},
		{"reread\n", Plan{Send: "reread\n", Kind: Raw}},
		{"msgs\n", Plan{Send: "msgs\n", Kind: Raw}},
		{"rawload\n", Plan{Send: "load\n", Kind: Raw}},
		{"rawload-relayok\n", Plan{Send: "load-relayok\n", Kind: Raw}},
		{"rawload-senderok\n", Plan{Send: "load-senderok\n", Kind: Raw}},
		{"rawload-recipok\n", Plan{Send: "load-recipok\n", Kind: Raw}},
		{"rawload1 60\n", Plan{Send: "load1 60\n", Kind: Raw}},
		{"load1 60\n", Plan{Send: "load1 60\n", Kind: Load1}},
		{"jsonload1 60\n", Plan{Send: "load1 60\n", Kind: JSONLoad1}},
		{"rawhload\n", Plan{Send: "hload\n", Kind: Raw}},
		{"rawhload-relayok\n", Plan{Send: "hload-relayok\n", Kind: Raw}},
		{"rawhload-senderok\n", Plan{Send: "hload-senderok\n", Kind: Raw}},
		{"rawhload-recipok\n", Plan{Send: "hload-recipok\n", Kind: Raw}},
		{"load\n", Plan{Send: "load\n", Kind: Load, Labels: Labels{"Msgs", "Scan"}}},
		{"load-relayok\n", Plan{Send: "load-relayok\n", Kind: Load, Labels: Labels{"Conn", "Conn"}}},
		{"load-senderok\n", Plan{Send: "load-senderok\n", Kind: Load, Labels: Labels{"MAIL", "MAIL"}}},
		{"load-recipok\n", Plan{Send: "load-recipok\n", Kind: Load, Labels: Labels{"RCPT", "RCPT"}}},
		{"hload\n", Plan{Send: "hload\n", Kind: HLoad, Labels: Labels{"Msgs", "Scan"}}},
		{"hload-recipok\n", Plan{Send: "hload-recipok\n", Kind: HLoad, Labels: Labels{"RCPT", "RCPT"}}},
		{"workers\n", Plan{Send: "workers\n", Kind: Decoded}},
		{"status", Plan{Send: "status", Kind: Decoded}},
		{"load1%2060\n", Plan{Send: "load1%2060\n", Kind: Decoded}},
		{"rawload1\n", Plan{Send: "rawload1\n", Kind: Decoded}},
		{"STATUS\n", Plan{Send: "STATUS\n", Kind: Decoded}},
	}
	for _, tc := range tests {
		t.Run(strings.TrimSpace(tc.line), func(t *testing.T) {
			if got := PlanFor(tc.line); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if l := PlanFor("status\n").Limit(); l != MaxFormattedReply {
		t.Errorf("status reads %d bytes, want %d", l, MaxFormattedReply)
	}
	if l := PlanFor("workers\n").Limit(); l != MaxRawReply {
		t.Errorf("workers reads %d bytes, want %d", l, MaxRawReply)
	}
}

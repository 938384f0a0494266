package policy

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/proto"
)

func TestSetReply(t *testing.T) {
	tests := []struct {
		name            string
		class           byte
		code, dsn, text string
		wantCode        string
		wantDSN         string
		wantLines       []string
	}{
		{"valid reject", '5', "550", "5.7.1", "No", "550", "5.7.1", []string{"No"}},
		{"valid tempfail", '4', "452", "4.3.1", "Later", "452", "4.3.1", []string{"Later"}},
		{"defaults 5", '5', "", "", "", "554", "5.7.1", []string{DefaultRejectText}},
		{"defaults 4", '4', "", "", "", "451", "4.3.0", []string{DefaultTempFailText}},
		{"code of the other class", '5', "451", "5.7.1", "x", "554", "5.7.1", []string{"x"}},
		{"dsn of the other class", '4', "421", "5.7.1", "x", "421", "4.3.0", []string{"x"}},
		{"code too long", '5', "5500", "5.7.1", "x", "554", "5.7.1", []string{"x"}},
		{"code too short", '5', "55", "5.7.1", "x", "554", "5.7.1", []string{"x"}},
		{"code not digits", '5', "5x0", "5.7.1", "x", "554", "5.7.1", []string{"x"}},
		{"code with trailing LF", '5', "550\n", "5.7.1", "x", "554", "5.7.1", []string{"x"}},
		{"dsn 3-digit fields", '5', "550", "5.123.456", "x", "550", "5.123.456", []string{"x"}},
		{"dsn 4-digit field", '5', "550", "5.1234.1", "x", "550", "5.7.1", []string{"x"}},
		{"dsn leading zeros are fine", '5', "550", "5.07.001", "x", "550", "5.07.001", []string{"x"}},
		{"dsn missing field", '5', "550", "5.7", "x", "550", "5.7.1", []string{"x"}},
		{"dsn trailing junk", '5', "550", "5.7.1 ", "x", "550", "5.7.1", []string{"x"}},
		{"dsn two-digit class", '5', "550", "55.7.1", "x", "550", "5.7.1", []string{"x"}},
		{"dsn empty field", '5', "550", "5..1", "x", "550", "5.7.1", []string{"x"}},
		{"percent is not doubled", '5', "550", "5.7.1", "100% spam", "550", "5.7.1", []string{"100% spam"}},
		{"control bytes become spaces", '5', "550", "5.7.1", "a\tb\rc\x01d\x7fe", "550", "5.7.1", []string{"a b c d e"}},
		{"8-bit bytes become spaces (signed char)", '5', "550", "5.7.1", "caf\xc3\xa9", "550", "5.7.1", []string{"caf  "}},
		{"NUL cuts the text", '5', "550", "5.7.1", "shown\x00hidden", "550", "5.7.1", []string{"shown"}},
		{"NUL at the start means empty", '4', "450", "4.7.1", "\x00x", "450", "4.7.1", []string{DefaultTempFailText}},
		{"NUL cuts the code", '5', "550\x00", "5.7.1", "x", "550", "5.7.1", []string{"x"}},
		{"two lines", '5', "550", "5.7.1", "one\ntwo", "550", "5.7.1", []string{"one", "two"}},
		{"final LF ends the list", '5', "550", "5.7.1", "one\ntwo\n", "550", "5.7.1", []string{"one", "two"}},
		{"empty line inside", '5', "550", "5.7.1", "one\n\ntwo", "550", "5.7.1", []string{"one", "", "two"}},
		{"two final LFs keep one empty line", '5', "550", "5.7.1", "one\n\n", "550", "5.7.1", []string{"one", ""}},
		{"only LF", '5', "550", "5.7.1", "\n", "550", "5.7.1", []string{""}},
		{"CRLF: CR becomes a space", '5', "550", "5.7.1", "one\r\ntwo", "550", "5.7.1", []string{"one ", "two"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, d, l := SetReply(tt.class, tt.code, tt.dsn, tt.text)
			if c != tt.wantCode || d != tt.wantDSN || !reflect.DeepEqual(l, tt.wantLines) {
				t.Errorf("SetReply(%c, %q, %q, %q) = %q, %q, %q; want %q, %q, %q",
					tt.class, tt.code, tt.dsn, tt.text, c, d, l, tt.wantCode, tt.wantDSN, tt.wantLines)
			}
		})
	}
}

func TestSetReplyLineLimit(t *testing.T) {
	var in []string
	for i := 1; i <= 40; i++ {
		in = append(in, fmt.Sprint("l", i))
	}
	_, _, lines := SetReply('5', "550", "5.7.1", strings.Join(in, "\n"))
	if len(lines) != MaxReplyLines {
		t.Fatalf("%d lines, want %d", len(lines), MaxReplyLines)
	}
	if !reflect.DeepEqual(lines[:30], in[:30]) {
		t.Errorf("first 30 lines changed: %q", lines[:30])
	}
	if want := strings.Join(in[30:], " "); lines[30] != want {
		t.Errorf("line 31 = %q, want %q", lines[30], want)
	}
	// Exactly 31 lines with a final LF: the LF ends the list.
	_, _, lines = SetReply('5', "550", "5.7.1", strings.Join(in[:31], "\n")+"\n")
	if len(lines) != 31 || lines[30] != "l31 " {
		// The 31st line keeps its LF as a space: do_reply stops
		// splitting after 30 cuts.
		t.Errorf("31 lines + LF: %d lines, last %q", len(lines), lines[len(lines)-1])
	}
	_, _, lines = SetReply('5', "550", "5.7.1", strings.Join(in[:30], "\n")+"\n")
	if len(lines) != 30 || lines[29] != "l30" {
		t.Errorf("30 lines + LF: %d lines, last %q", len(lines), lines[len(lines)-1])
	}
}

func TestSMTPReplyForms(t *testing.T) {
	r := NewReply('5', "550", "5.7.1", "one\ntwo")
	if r.Reason() != "5.7.1 one\ntwo" || r.CodeNumber() != 550 {
		t.Errorf("Reason %q CodeNumber %d", r.Reason(), r.CodeNumber())
	}
	if r.String() != "550-5.7.1 one\r\n550 5.7.1 two" {
		t.Errorf("String %q", r.String())
	}
}

func TestDecide(t *testing.T) {
	withText := func(v proto.Verdict, delay int) proto.CheckReply {
		return proto.CheckReply{Verdict: v, HasText: true, Msg: "m", Code: "x", DSN: "y", Delay: delay}
	}
	for _, st := range []Stage{Connect, Helo, Sender, Recipient} {
		for _, v := range []proto.Verdict{proto.TempFail, proto.Reject, proto.Continue, proto.AcceptNoMoreFiltering, proto.Discard} {
			bare := Decide(st, proto.CheckReply{Verdict: v})
			if bare.Verdict != v || bare.Reply != nil || bare.Delay != 0 {
				t.Errorf("%v bare %v: %+v", st, v, bare)
			}
			d := Decide(st, withText(v, 7))
			if d.Verdict != v {
				t.Errorf("%v %v: verdict %v", st, v, d.Verdict)
			}
			if st == Connect {
				if d.Reply != nil || d.Delay != 0 {
					t.Errorf("connect %v: %+v, want no reply and no delay", v, d)
				}
				continue
			}
			if d.Delay != 7*time.Second {
				t.Errorf("%v %v: delay %v", st, v, d.Delay)
			}
			switch v {
			case proto.Reject:
				if d.Reply == nil || d.Reply.String() != "554 5.7.1 m" {
					t.Errorf("%v reject: %+v", st, d.Reply)
				}
			case proto.TempFail:
				if d.Reply == nil || d.Reply.String() != "451 4.3.0 m" {
					t.Errorf("%v tempfail: %+v", st, d.Reply)
				}
			default:
				if d.Reply != nil {
					t.Errorf("%v %v: unexpected reply %+v", st, v, d.Reply)
				}
			}
		}
	}
	if d := Decide(Helo, withText(proto.Continue, -3)); d.Delay != 0 {
		t.Errorf("negative delay: %v", d.Delay)
	}
	if d := Decide(Helo, withText(proto.Continue, 1<<62)); d.Delay <= 0 {
		t.Errorf("huge delay overflowed: %v", d.Delay)
	}
	if d := Decide(Sender, proto.CheckReply{Verdict: 9}); d.Verdict != proto.Continue {
		t.Errorf("verdict 9: %v", d.Verdict)
	}
	if d := Decide(Sender, proto.CheckReply{Verdict: -4}); d.Verdict != proto.TempFail {
		t.Errorf("verdict -4: %v", d.Verdict)
	}
}

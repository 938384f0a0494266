package smtpcheck

import (
	"bufio"
	"strings"
	"testing"
)

func TestReadReply(t *testing.T) {
	for _, tc := range []struct{ in, want, log string }{
		{"250-a\r\n250 2.1.0 Sender ok\r\n", "CONTINUE|250|2.1.0|Sender ok", ""},
		{"354\r\n", "CONTINUE|354||", ""},
		{"garbage\r\n550 no\r\n", "REJECT|550||no", "info: get_smtp_return_code: for <r> on srv returned 550  no"},
		{"650 weird\r\n", "TEMPFAIL|650||weird", "warning: get_smtp_return_code: Invalid SMTP reply code 650 from server srv for <r>"},
		{"451 4.3.0 last line without newline", "TEMPFAIL|451|4.3.0|last line without newline", "info: get_smtp_return_code: for <r> on srv returned 451 4.3.0 last line without newline"},
		{"", "TEMPFAIL|451|4.3.0|get_smtp_return_code: Empty response from SMTP server", "info: get_smtp_return_code: for <r> on srv returned an empty response"},
	} {
		var log logged
		r := New(Config{Log: log.log}).ReadReply(bufio.NewReader(strings.NewReader(tc.in)), "<r>", "srv")
		if got := strings.Join([]string{r.Verdict, r.Code, r.DSN, r.Text}, "|"); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
		if log.String() != tc.log {
			t.Errorf("%q: log %q, want %q", tc.in, log.String(), tc.log)
		}
	}
}

func TestReadExtensions(t *testing.T) {
	res, exts := ReadExtensions(bufio.NewReader(strings.NewReader("250-mx.example Hello\r\n250-SIZE 1000\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n")), "srv")
	_, tls := exts["STARTTLS"]
	if res != (Result{Verdict: Continue, Code: "250", DSN: "2.5.0"}) || exts["hostname"] != "mx.example" || exts["SIZE"] != "1000" || !tls || exts["AUTH"] != "PLAIN LOGIN" {
		t.Errorf("extensions %#v %v", res, exts)
	}
	res, exts = ReadExtensions(bufio.NewReader(strings.NewReader("oops\r\n")), "srv")
	if _, ok := exts["srv said: oops"]; res != (Result{Verdict: TempFail, Code: "451", DSN: "4.3.0"}) || !ok || len(exts) != 1 {
		t.Errorf("bad line: %#v %v", res, exts)
	}
	for in, want := range map[string]Result{
		"421 4.3.2 bye\r\n":  {Verdict: TempFail, Code: "421", DSN: "4.0.0"},
		"502 5.5.2 what\r\n": {Verdict: Reject, Code: "502", DSN: "5.0.0"},
		"":                   {},
		"250-a\r\n":          {Verdict: Continue, Code: "250", DSN: "2.5.0"},
	} {
		if res, _ := ReadExtensions(bufio.NewReader(strings.NewReader(in)), "srv"); res != want {
			t.Errorf("%q: %#v, want %#v", in, res, want)
		}
	}
}

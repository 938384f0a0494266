package clamd

import (
	"reflect"
	"testing"
)

func TestParseReply(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Reply
	}{
		{"stream: OK\x00", Reply{Status: Clean}},
		{"stream: Eicar-Signature FOUND\x00", Reply{Status: Found, Virus: "Eicar-Signature"}},
		{"stream: MD-Test-EICAR.UNOFFICIAL FOUND\x00", Reply{Status: Found, Virus: "MD-Test-EICAR.UNOFFICIAL"}},
		{"/w/Work/part-1.bin: OK\n", Reply{Status: Clean}},
		{"/w/Work/part-2.bin: Eicar-Signature FOUND\n/w/Work: OK\n", Reply{Status: Found, Virus: "Eicar-Signature"}},
		// A directory clamd could not read: an ERROR line, then OK.
		{"/root: File path check failure: Permission denied. ERROR\x00/root: OK\x00",
			Reply{Status: Error, Detail: "File path check failure: Permission denied."}},
		// FOUND wins over ERROR, as in the original.
		{"/w/a: Can't open file ERROR\x00/w/b: X FOUND\x00", Reply{Status: Found, Virus: "X"}},
		{"INSTREAM size limit exceeded. ERROR\x00", Reply{Status: Error, Detail: "INSTREAM size limit exceeded."}},
		{"stream: Zip module failure ERROR\x00", Reply{Status: Error, Detail: "Zip module failure"}},
		// Anything else never passes.
		{"", Reply{Status: Unknown}},
		{"\x00\n \x00", Reply{Status: Unknown}},
		{"UNKNOWN COMMAND\x00", Reply{Status: Unknown, Detail: "UNKNOWN COMMAND"}},
		{"PONG\x00", Reply{Status: Unknown, Detail: "PONG"}},
		{"stream: OK\x00garbage\x00", Reply{Status: Unknown, Detail: "stream: OK | garbage"}},
		{"stream: OKAY\x00", Reply{Status: Unknown, Detail: "stream: OKAY"}},
		{"COMMAND READ TIMED OUT\x00", Reply{Status: Unknown, Detail: "COMMAND READ TIMED OUT"}},
		{"bin\x01ary: OK\xff", Reply{Status: Unknown, Detail: "bin?ary: OK?"}},
	} {
		if got := ParseReply([]byte(tc.in)); got != tc.want {
			t.Errorf("ParseReply(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
}

func TestIsPong(t *testing.T) {
	for in, want := range map[string]bool{"PONG\x00": true, "PONG\n": true, "PONG": true, "PONG\x00PONG\x00": false, "": false, "PING": false, "stream: OK": false} {
		if got := IsPong([]byte(in)); got != want {
			t.Errorf("IsPong(%q) = %v", in, got)
		}
	}
}

func TestInterpretClamavCode(t *testing.T) {
	for _, tc := range []struct {
		code          int
		output, name  string
		want          Result
		wantName, why string
	}{
		{0, "", "", Result{Code: 0, Category: OK, Action: "ok"}, "", "clean"},
		{1, "./Work/part-2.bin: Eicar-Signature FOUND\n", "", Result{Code: 1, Category: Virus, Action: "quarantine", VirusName: "Eicar-Signature"}, "", "named"},
		{1, "nothing useful\n", "Earlier", Result{Code: 1, Category: Virus, Action: "quarantine", VirusName: "Earlier"}, "", "keeps $VirusName"},
		{1, "", "", Result{Code: 1, Category: Virus, Action: "quarantine", VirusName: UnknownClamavVirus}, "", "unknown"},
		{2, "ERROR: Can't open file\n", "", Result{Code: 2, Category: SoftwareError, Action: "tempfail"}, "", "error"},
		{-1, "", "", Result{Code: -1, Category: SoftwareError, Action: "tempfail"}, "", "killed"},
		{127, "", "", Result{Code: 127, Category: SoftwareError, Action: "tempfail"}, "", "not found"},
	} {
		if got := InterpretClamavCode(tc.code, tc.output, tc.name); got != tc.want {
			t.Errorf("%s: InterpretClamavCode(%d) = %#v, want %#v", tc.why, tc.code, got, tc.want)
		}
	}
}

func TestValues(t *testing.T) {
	if got := virusResult("X").Values(); !reflect.DeepEqual(got, []any{1, "virus", "quarantine"}) {
		t.Errorf("virus: %#v", got)
	}
	if got := cannotExecuteResult().Values(); !reflect.DeepEqual(got, []any{999, "cannot-execute", "tempfail"}) {
		t.Errorf("cannot-execute: %#v", got)
	}
	if got := swerrResult("x").Values(); !reflect.DeepEqual(got, []any{999, "swerr", "tempfail"}) {
		t.Errorf("swerr: %#v", got)
	}
	if got := okResult().Values(); !reflect.DeepEqual(got, []any{0, "ok", "ok"}) {
		t.Errorf("ok: %#v", got)
	}
	if got := virusResult("X").Messages; got != "clamd found the X virus.\n" {
		t.Errorf("Messages %q", got)
	}
}

func TestCommandLines(t *testing.T) {
	if got := ClamdscanArgs("/etc/mail/MD-clamdscan.conf", "./Work"); !reflect.DeepEqual(got,
		[]string{"-c", "/etc/mail/MD-clamdscan.conf", "--no-summary", "--infected", "--fdpass", "--stream", "./Work"}) {
		t.Errorf("clamdscan: %q", got)
	}
	if got := ClamscanArgs(true, "./Work"); !reflect.DeepEqual(got, []string{"-r", "--stdout", "--no-summary", "--infected", "./Work"}) {
		t.Errorf("clamscan -r: %q", got)
	}
	if got := ClamscanArgs(false, "/w/Work/part-1.bin"); !reflect.DeepEqual(got, []string{"--stdout", "--no-summary", "--infected", "/w/Work/part-1.bin"}) {
		t.Errorf("clamscan: %q", got)
	}
	if got := ClamscanFallbackArgs("/w/Work"); !reflect.DeepEqual(got, []string{"-r", "--unzip", "--unrar", "--stdout", "--no-summary", "--infected", "/w/Work"}) {
		t.Errorf("fallback: %q", got)
	}
	for detail, want := range map[string]bool{"Zip module failure": true, "zip MODULE failure": true, "Not supported data format": true, "Permission denied.": false} {
		if IsZipFailure(detail) != want {
			t.Errorf("IsZipFailure(%q) != %v", detail, want)
		}
	}
}

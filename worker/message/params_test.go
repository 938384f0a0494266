package message

import "testing"

func TestParams(t *testing.T) {
	for _, tc := range []struct {
		raw, name, want string
		ok              bool
	}{
		{`text/plain; charset="us-ascii"`, "charset", "us-ascii", true},
		{`text/plain; charset=us-ascii (comment)`, "charset", "us-ascii", true},
		{"text/plain;\n\tname=\"a\\\"b.txt\"", "name", `a"b.txt`, true},
		{`application/x; name=foo bar.exe`, "name", "foo", true},
		{`application/x; name="unterminated.exe`, "name", "", false},
		{`application/x; NAME=Up.TXT`, "name", "Up.TXT", true},
		{`application/x; name*0="a"; name*1="b"; name*2=c`, "name", "abc", true},
		{`application/x; name*1="b"; name*0="a"`, "name", "ab", true},
		{`application/x; name="plain"; name*0="x"`, "name", "x", true},
		{`application/x; name*=utf-8''%E2%82%AC.txt`, "name", "=?utf-8?Q?=E2=82=AC.txt?=", true},
		{`application/x; name*=iso-8859-1'fr'r%E9sum%E9`, "name", "=?iso-8859-1*fr?Q?r=E9sum=E9?=", true},
		{`application/x; name*=no-quotes%41`, "name", "no-quotesA", true},
		{`application/x; name==?utf-8?B?w6k=?=`, "name", "=?utf-8?B?w6k=?=", true},
		{`  Text/HTML  ; x=1`, "_", "Text/HTML", true},
		{`(c) text/plain`, "_", "text/plain", true},
		{`;name=x`, "_", "", true},
		{``, "name", "", false},
	} {
		got, ok := paramMIMETools(tc.raw, tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("paramMIMETools(%q, %q) = %q, %v; want %q, %v", tc.raw, tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParamDecoded(t *testing.T) {
	p := &Part{fields: splitFields([]byte("Content-Type: application/x; name*=iso-8859-1''r%E9sum%E9.doc; charset=UTF-8\n"))}
	if got := p.Param("name"); got != "r\u00e9sum\u00e9.doc" {
		t.Errorf("Param(name) = %q", got)
	}
	if got := p.Charset(); got != "utf-8" {
		t.Errorf("Charset = %q", got)
	}
}

func TestDecodeWordsUTF8(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain.txt", "plain.txt"},
		{"=?utf-8?B?w6kuZXhl?=", "\u00e9.exe"},
		{"=?ISO-8859-1?Q?r=E9sum=E9?= =?iso-8859-1?q?_final?=.doc", "r\u00e9sum\u00e9 final.doc"},
		{"caf\xe9.txt", `caf\xE9.txt`},
		{"=?utf-8?Q?a=FFb?=", `a\xFFb`},
		{"=?x-unknown?Q?abc?=.zip", ".zip"},
		{"=?UTF-8*en?Q?ab?=", "ab"},
		{"=?windows-1252?Q?=80?=", "\u20ac"},
		{"=?utf-8?Q?broken", "=?utf-8?Q?broken"},
		{"=?koi8-r?B?8NLJ18XU?=", "\u041f\u0440\u0438\u0432\u0435\u0442"},
	} {
		if got := decodeWordsUTF8(tc.in); got != tc.want {
			t.Errorf("decodeWordsUTF8(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDecoders(t *testing.T) {
	for _, tc := range []struct{ enc, in, want string }{
		{"base64", "aGVs*bG8g!d29y\nbGQ=", "hello world"},
		{"base64", "YQ", "a"},
		{"base64", "YWI", "ab"},
		{"base64", "Y", ""},
		{"quoted-printable", "a=4x b=\nc=41=4a  \nd= \ne=", "a=4x bcAJ\nde="},
		{"quoted-printable", "a=\r\nb\r\n", "ab\n"},
		{"7bit", "a\r\nb\r\n", "a\r\nb\n"},
		{"8bit", "x\r\n\n", "x\n\n"},
		{"binary", "a\r\n", "a\r\n"},
	} {
		p := &Part{kind: leaf, encoding: tc.enc, body: []byte(tc.in), rawOK: true, size: -1}
		got, err := p.Body()
		if err != nil || string(got) != tc.want {
			t.Errorf("%s %q: %q, %v; want %q", tc.enc, tc.in, got, err, tc.want)
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	data := "caf\u00e9 = x\t\nline with trailing blank \n" + string(make([]byte, 3)) + "\n" + string(make([]byte, 200)) + "end"
	for _, enc := range []string{"base64", "quoted-printable"} {
		p := NewPart("application/octet-stream", enc, []byte(data), "", "")
		var w writerBuf
		if _, err := (&Message{}).WriteBody(&w, p); err != nil {
			t.Fatal(err)
		}
		for _, line := range splitLines(w.b) {
			if len(line) > 77 {
				t.Errorf("%s: line of %d bytes", enc, len(line))
			}
		}
		q := &Part{kind: leaf, encoding: enc, body: w.b, rawOK: true, size: -1}
		got, _ := q.Body()
		if string(got) != data {
			t.Errorf("%s round trip: %q", enc, got)
		}
	}
}

type writerBuf struct{ b []byte }

func (w *writerBuf) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

func splitLines(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == '\n' {
			out = append(out, string(b[start:i+1]))
			start = i + 1
		}
	}
	return append(out, string(b[start:]))
}

// Command corpusgen writes the MIME conformance corpus to
// worker/testdata/corpus: INPUTMSG-style messages (LF line ends) that
// exercise package message against MIME-tools. Run it with
//
//	go generate ./message/
//
// from worker/ (or `go run ./internal/corpusgen -dir testdata/corpus`). The
// output is deterministic; README.md in the corpus directory lists what each
// message exercises.
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"encoding/base64"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"
)

type msg struct {
	name string
	what string
	body string
}

var stamp = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

const hdr = "Return-Path: <sender@example.org>\n" +
	"Received: from mx.example.org (mx.example.org [192.0.2.1])\n\tby mail.example.com with ESMTP id 4Xyz; Fri, 1 Mar 2024 12:00:00 +0000\n" +
	"From: Sender <sender@example.org>\n" +
	"To: rcpt@example.com\n" +
	"Date: Fri, 1 Mar 2024 12:00:00 +0000\n" +
	"Message-ID: <corpus@example.org>\n"

func b64(data []byte) string {
	s := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	b.WriteString(s + "\n")
	return b.String()
}

func zipOf(files ...string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: files[i], Method: zip.Deflate, Modified: stamp})
		if err != nil {
			log.Fatal(err)
		}
		w.Write([]byte(files[i+1]))
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	return buf.Bytes()
}

func tarOf(files ...string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		tw.WriteHeader(&tar.Header{Name: files[i], Mode: 0o644, Size: int64(len(files[i+1])), ModTime: stamp, Format: tar.FormatUSTAR})
		tw.Write([]byte(files[i+1]))
	}
	if err := tw.Close(); err != nil {
		log.Fatal(err)
	}
	return buf.Bytes()
}

// mz is a tiny fake DOS executable: enough for type sniffers.
var mz = append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"), bytes.Repeat([]byte{0}, 48)...)

// mixed builds a multipart/mixed message from a text part and one attachment header block.
func attach(subject, ctype, disp, data string) string {
	return hdr + "Subject: " + subject + "\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"=-b1\"\n\n" +
		"This is a multi-part message in MIME format.\n\n--=-b1\nContent-Type: text/plain; charset=us-ascii\n\nSee the attachment.\n\n" +
		"--=-b1\nContent-Type: " + ctype + "\n" + disp + "Content-Transfer-Encoding: base64\n\n" + b64([]byte(data)) + "\n--=-b1--\n"
}

func corpus() []msg {
	longLine := strings.Repeat("0123456789", 1200)
	return []msg{
		{"plain", "single-part text/plain, no MIME headers at all", hdr + "Subject: plain\n\nHello,\n\nthis is a plain message.\n-- \nsig\n"},
		{"8bit", "single-part text/plain 8bit ISO-8859-1 body", hdr + "Subject: 8bit\nMIME-Version: 1.0\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\nCaf\xe9 cr\xe8me br\xfbl\xe9e.\n"},
		{"qp", "quoted-printable: soft breaks, =XX in both cases, trailing blanks, bare '='", hdr + "Subject: qp\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nCaf=C3=A9 cr=c3=a8me, a long line that is soft=\n broken here.   \nTrailing blanks above. =\nA bare = sign and =ZZ stay.\n"},
		{"base64-text", "single-part base64 text body", hdr + "Subject: b64\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" + b64([]byte("Hello from base64.\nSecond line, caf\u00e9.\n"))},
		{"alternative", "multipart/alternative text/plain + text/html", hdr + "Subject: alt\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"alt-1\"\n\n--alt-1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 7bit\n\nPlain version.\n\n--alt-1\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n<html><body><p>HTML version.</p></BODY></html>\n\n--alt-1--\n"},
		{"html-only", "single-part text/html", hdr + "Subject: html\nMIME-Version: 1.0\nContent-Type: text/html; charset=us-ascii\n\n<html><head><title>x</title></head>\n<body>Only HTML.</body>\n</html>\n"},
		{"nested-multipart", "mixed > alternative(text, related(html, image)) + pdf attachment", hdr + "Subject: nested\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"outer\"\n\n--outer\nContent-Type: multipart/alternative; boundary=\"alt\"\n\n--alt\nContent-Type: text/plain\n\nplain text\n--alt\nContent-Type: multipart/related; boundary=\"rel\"\n\n--rel\nContent-Type: text/html\n\n<html><body><img src=\"cid:img1\"></body></html>\n--rel\nContent-Type: image/png\nContent-ID: <img1>\nContent-Transfer-Encoding: base64\n\n" + b64([]byte("\x89PNG\r\n\x1a\nfakepng")) + "--rel--\n\n--alt--\n\n--outer\nContent-Type: application/pdf; name=\"report.pdf\"\nContent-Disposition: attachment; filename=\"report.pdf\"\nContent-Transfer-Encoding: base64\n\n" + b64([]byte("%PDF-1.4\n%fake pdf\n")) + "\n--outer--\n"},
		{"rfc822-multipart", "attached message/rfc822 whose message is itself multipart with an attachment", hdr + "Subject: fwd\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"fwd-outer\"\n\n--fwd-outer\nContent-Type: text/plain\n\nForwarded message below.\n\n--fwd-outer\nContent-Type: message/rfc822\nContent-Disposition: attachment; filename=\"original.eml\"\n\nFrom: other@example.net\nSubject: original\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"fwd-inner\"\n\n--fwd-inner\nContent-Type: text/plain\n\nInner text.\n--fwd-inner\nContent-Type: application/octet-stream; name=\"inner.exe\"\nContent-Transfer-Encoding: base64\n\n" + b64(mz) + "--fwd-inner--\n\n--fwd-outer--\n"},
		{"rfc822-single", "attached message/rfc822 with a single-part body", hdr + "Subject: fwd2\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"f2\"\n\n--f2\nContent-Type: text/plain\n\nSee attached.\n--f2\nContent-Type: message/rfc822\n\nFrom: x@example.net\nSubject: inner\n\nInner body line.\n--f2--\n"},
		{"fname-disposition", "file name from Content-Disposition filename", attach("cd", "application/octet-stream", "Content-Disposition: attachment; filename=\"document.doc\"\n", "doc data")},
		{"fname-ctname", "file name from Content-Type name only", attach("ct", "application/octet-stream; name=\"sheet.xls\"", "", "xls data")},
		{"fname-both", "Content-Disposition filename wins over Content-Type name", attach("both", "application/octet-stream; name=\"ct-name.txt\"", "Content-Disposition: attachment; filename=\"cd-name.exe\"\n", "both")},
		{"rfc2231-continuation", "RFC 2231 continuations (unencoded and encoded pieces, out of order)", attach("2231", "application/octet-stream", "Content-Disposition: attachment;\n filename*1=\"-part-two\";\n filename*0=\"a-very-long-name\";\n filename*2*=%2Eexe\n", "cont")},
		{"rfc2231-charset", "RFC 2231 charset'lang'value in ISO-8859-1 and UTF-8", attach("2231cs", "application/octet-stream; name*=utf-8''%E2%82%AC-price.txt", "Content-Disposition: attachment; filename*=iso-8859-1'fr'r%E9sum%E9.pdf\n", "cs")},
		{"rfc2047-filename", "RFC 2047 encoded words (B and Q, adjacent words joined) in filename and name", hdr + "Subject: 2047\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"w\"\n\n--w\nContent-Type: text/plain\n\nx\n--w\nContent-Type: application/octet-stream; name=\"=?UTF-8?B?w6l0w6kuZXhl?=\"\nContent-Transfer-Encoding: base64\n\n" + b64(mz) + "--w\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"=?iso-8859-1?Q?r=E9sum=E9?= =?iso-8859-1?Q?_final.doc?=\"\nContent-Transfer-Encoding: base64\n\n" + b64([]byte("doc")) + "--w--\n"},
		{"zip", "real zip archive attachment with harmless members", attach("zip", "application/zip; name=\"test.zip\"", "Content-Disposition: attachment; filename=\"test.zip\"\n", string(zipOf("readme.txt", "hello\n", "data/notes.txt", "notes\n")))},
		{"zip-exe", "real zip archive containing an .exe member", attach("zipexe", "application/zip; name=\"invoice.zip\"", "Content-Disposition: attachment; filename=\"invoice.zip\"\n", string(zipOf("invoice.pdf", "%PDF-1.4\n", "setup.exe", string(mz))))},
		{"tar", "real ustar archive attachment", attach("tar", "application/x-tar; name=\"bundle.tar\"", "Content-Disposition: attachment; filename=\"bundle.tar\"\n", string(tarOf("bundle/a.txt", "a\n", "bundle/run.bat", "@echo off\n")))},
		{"exe", ".exe attachment", attach("exe", "application/x-msdownload; name=\"setup.exe\"", "Content-Disposition: attachment; filename=\"setup.exe\"\n", string(mz))},
		{"bat", ".bat attachment sent as text/plain", attach("bat", "text/plain; name=\"run.bat\"", "Content-Disposition: attachment; filename=\"run.bat\"\n", "@echo off\r\ndel *.*\r\n")},
		{"scr", ".scr attachment", attach("scr", "application/octet-stream; name=\"screensaver.scr\"", "Content-Disposition: attachment; filename=\"screensaver.scr\"\n", string(mz))},
		{"com", ".com attachment", attach("com", "application/octet-stream; name=\"command.com\"", "Content-Disposition: attachment; filename=\"command.com\"\n", "\xb4\x09\xcd\x21")},
		{"uppercase-ext", "upper-case extension INVOICE.EXE", attach("upper", "application/octet-stream; name=\"INVOICE.EXE\"", "Content-Disposition: attachment; filename=\"INVOICE.EXE\"\n", string(mz))},
		{"double-ext", "double extension invoice.pdf.exe and a trailing-dot name", hdr + "Subject: dbl\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"d\"\n\n--d\nContent-Type: text/plain\n\nx\n--d\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"invoice.pdf.exe\"\nContent-Transfer-Encoding: base64\n\n" + b64(mz) + "--d\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"photo.jpg.   .scr\"\nContent-Transfer-Encoding: base64\n\n" + b64(mz) + "--d--\n"},
		{"signed", "multipart/signed with a text part and a pgp-signature", hdr + "Subject: signed\nMIME-Version: 1.0\nContent-Type: multipart/signed; micalg=pgp-sha256;\n protocol=\"application/pgp-signature\"; boundary=\"sig\"\n\n--sig\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\nSigned text.\n\n--sig\nContent-Type: application/pgp-signature; name=\"signature.asc\"\nContent-Disposition: attachment; filename=\"signature.asc\"\n\n-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAdFiEE\n-----END PGP SIGNATURE-----\n\n--sig--\n"},
		{"encrypted", "multipart/encrypted (PGP/MIME)", hdr + "Subject: enc\nMIME-Version: 1.0\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"enc\"\n\n--enc\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n\n--enc\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\n\n-----BEGIN PGP MESSAGE-----\nhQEMA\n-----END PGP MESSAGE-----\n\n--enc--\n"},
		{"digest", "multipart/digest: children default to message/rfc822, one explicit text/plain", hdr + "Subject: digest\nMIME-Version: 1.0\nContent-Type: multipart/digest; boundary=\"dg\"\n\n--dg\n\nFrom: a@example.net\nSubject: one\n\nFirst digest message.\n\n--dg\n\nFrom: b@example.net\nSubject: two\nContent-Type: text/html\n\n<p>Second</p>\n\n--dg\nContent-Type: text/plain\n\nExplicit text part.\n--dg--\n"},
		{"missing-final-boundary", "broken: the closing boundary is missing", hdr + "Subject: nofinal\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"nf\"\n\n--nf\nContent-Type: text/plain\n\nfirst\n--nf\nContent-Type: text/plain\n\nsecond, and then the message just ends\n"},
		{"no-boundary-param", "broken: multipart/mixed without boundary parameter", hdr + "Subject: nobound\nMIME-Version: 1.0\nContent-Type: multipart/mixed\n\n--xyz\nContent-Type: text/plain\n\nbody\n--xyz--\n"},
		{"boundary-never-appears", "broken: boundary declared but never used", hdr + "Subject: never\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"declared\"\n\n--other\nContent-Type: text/plain\n\nthe parts use another boundary\n--other--\n"},
		{"bad-base64", "broken: base64 with invalid characters, inner padding and a truncated group", attach("badb64", "application/octet-stream; name=\"x.bin\"", "", "") + ""},
		{"bad-qp", "broken: quoted-printable with bad escapes, =\\r\\n and an over-long line", hdr + "Subject: badqp\nMIME-Version: 1.0\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n=4 =G1 =\n=3d=3D trailing =  \nline=\r\nend=2\n" + strings.Repeat("x", 200) + "=\n"},
		{"garbage-ct", "broken: garbage Content-Type values (no slash, unbalanced quote, comment)", hdr + "Subject: garbage\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"g\"\n\n--g\nContent-Type: garbage\n\nno slash\n--g\nContent-Type: (comment) Text/HTML ; charset=\"unterminated\n\n<p>x</p>\n--g\nContent-Type: ;name=\"noname.exe\"\n\nempty type\n--g\nContent-Type: application/octet-stream; name=foo bar.exe; x=\n\nbad token\n--g--\n"},
		{"dup-ct", "broken: a part with two Content-Type fields (the first wins)", hdr + "Subject: dup\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"dup\"\n\n--dup\nContent-Type: text/plain; name=\"first.txt\"\nContent-Type: application/octet-stream; name=\"second.exe\"\n\ndup\n--dup--\n"},
		{"header-no-colon", "broken: header lines without colon, space before colon, folded junk", hdr + "Subject: nocolon\nMIME-Version: 1.0\nThis line has no colon\n  and a continuation\nContent-Type : text/html\nContent-Type: multipart/mixed; boundary=\"nc\"\n\n--nc\nbogus header line\nContent-Type: text/plain; name=\"a.txt\"\n\nbody\n--nc--\n"},
		{"empty-body", "a message with headers and an empty body", hdr + "Subject: empty\nMIME-Version: 1.0\nContent-Type: text/plain\n\n"},
		{"long-lines", "very long lines (12000 bytes) in text and base64 without line breaks", hdr + "Subject: long\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"ll\"\n\n--ll\nContent-Type: text/plain\n\n" + longLine + "\n--ll\nContent-Type: application/octet-stream; name=\"long.bin\"\nContent-Transfer-Encoding: base64\n\n" + base64.StdEncoding.EncodeToString([]byte(longLine)) + "\n--ll--\n"},
		{"nul-bytes", "NUL bytes in headers and bodies", hdr + "Subject: nul\x00byte\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"nul\"\n\n--nul\nContent-Type: text/plain\n\nbefore\x00after\n--nul\nContent-Type: application/octet-stream; name=\"n\x00ul.exe\"\n\n\x00\x00\x00\n--nul--\n"},
		{"crlf-mixed", "CR LF line ends mixed with LF (header, boundary lines, bodies)", hdr + "Subject: crlf\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"cr\"\r\n\r\n--cr\r\nContent-Type: text/plain\r\n\r\nline one\r\nline two\nline three\r\n--cr\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nqp line=\r\ncontinued\r\n\r\n--cr--\r\n"},
		{"preamble-epilogue", "preamble and epilogue text, boundary lines with trailing blanks", hdr + "Subject: pe\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=pe\n\nThis is the preamble.\nIt has two lines.\n--pe  \nContent-Type: text/plain\n\none\n--pe\t\nContent-Type: text/plain\n\ntwo\n\n--pe--   \nThis is the epilogue.\n"},
		{"unknown-cte", "unknown Content-Transfer-Encoding (becomes application/octet-stream) and 8-bit spelled \"8-bit\"", hdr + "Subject: cte\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"u\"\n\n--u\nContent-Type: text/plain\nContent-Transfer-Encoding: x-foo\n\nxfoo body\n--u\nContent-Type: text/plain\nContent-Transfer-Encoding: 8-bit\n\n8-bit body \xe9\n--u--\n"},
		{"bogus-part", "broken: a part whose header runs into the next boundary (no blank line)", hdr + "Subject: bogus\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"bg\"\n\n--bg\nContent-Type: application/octet-stream; name=\"lost.exe\"\n--bg\nContent-Type: text/plain\n\nok\n--bg--\n"},
		{"boundary-prefix", "inner boundary is a prefix of the outer one and vice versa", hdr + "Subject: prefix\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"abc\"\n\n--abc\nContent-Type: multipart/alternative; boundary=\"abcd\"\n\n--abcd\nContent-Type: text/plain\n\nin\n--abcd\nContent-Type: text/html\n\n<p>in</p>\n--abcd--\n--abc\nContent-Type: text/plain\n\nout\n--abc--\n"},
		{"outer-ends-inner", "broken: inner multipart not closed, the outer boundary ends it", hdr + "Subject: outer\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"OUT\"\n\n--OUT\nContent-Type: multipart/alternative; boundary=\"IN\"\n\n--IN\nContent-Type: text/plain\n\ninner text\n--OUT\nContent-Type: application/octet-stream; name=\"after.exe\"\nContent-Transfer-Encoding: base64\n\n" + b64(mz) + "--OUT--\n"},
		{"empty-multipart", "multipart whose first boundary is the closing one", hdr + "Subject: emptymp\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"e\"\n\npreamble only\n--e--\nepilogue\n"},
		{"single-attachment", "single-part message that is itself a base64 attachment", hdr + "Subject: single\nMIME-Version: 1.0\nContent-Type: application/pdf; name=\"only.pdf\"\nContent-Disposition: attachment; filename=\"only.pdf\"\nContent-Transfer-Encoding: base64\n\n" + b64([]byte("%PDF-1.4\nsingle\n"))},
		{"raw-8bit-filename", "raw (unencoded) 8-bit bytes in a filename", attach("raw8", "application/octet-stream", "Content-Disposition: attachment; filename=\"r\xe9sum\xe9.doc\"\n", "raw")},
		{"uuencode", "uuencoded file inside a text/plain body (MIME-tools extracts it: deviation)", hdr + "Subject: uu\n\nHere is the file:\n\nbegin 644 hello.exe\n%:&5L;&\\*\n`\nend\n\nbye\n"},
		{"external-body", "message/external-body parsed as a nested message", hdr + "Subject: ext\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"x\"\n\n--x\nContent-Type: message/external-body; access-type=URL; URL=\"http://example.org/f\"\n\nContent-Type: application/octet-stream\n\n--x--\n"},
		{"partial", "message/partial number=1 (nested) and number=2 (leaf)", hdr + "Subject: partial\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"p\"\n\n--p\nContent-Type: message/partial; number=1; total=2; id=\"a@b\"\n\nSubject: part one\n\nfirst half\n--p\nContent-Type: message/partial; number=2; total=2; id=\"a@b\"\n\nsecond half\n--p--\n"},
		{"qp-html-boilerplate", "alternative with QP HTML whose </body> tag is upper case and spaced", hdr + "Subject: qphtml\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"q\"\n\n--q\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nCaf=C3=A9\n--q\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n<html><body><!-- </body> -->Caf=C3=A9</ BODY></html>\n--q--\n"},
		{"many-parts", "a multipart with 30 small parts (for $MaxMIMEParts)", manyParts(30)},
		{"deep-nesting", "multiparts nested 12 deep", deep(12)},
		{"uuencode-multi", "two uuencoded files (an image and an .exe) after text, inside a multipart, with junk lines", hdr + "Subject: uu2\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"u2\"\n\n--u2\nContent-Type: text/plain\n\nIntro text.\nbegin 600 pic.GIF\n#1TE&\nthis line has lower case and is skipped\n`\nend\nbetween files\nbegin 755 run.exe\n\"35H\n`\nend\n--u2--\n"},
		{"bad-params", "parameter edge cases: unterminated quote, empty boundary value, bad RFC 2231 pieces, unknown charset", hdr + "Subject: params\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"pp\"\n\n--pp\nContent-Type: application/octet-stream; name=\"unterminated.exe\n\nx\n--pp\nContent-Type: application/octet-stream; name*0=\"a\"; name*0=\"b\"; name*1x=\"c\"\n\ny\n--pp\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"=?x-no-such-charset?Q?abc?=.exe\"\n\nz\n--pp\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename*=''plain%2Eexe; filename=\"   \"\n\nw\n--pp\nContent-Type: text/plain; name==?utf-8?Q?enc_token.txt?=\n\nv\n--pp--\n"},
		{"empty-boundary", "multipart with boundary=\"\" (MIME-tools takes \"--\" as the delimiter)", hdr + "Subject: eb\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"\"\n\npre\n--\nContent-Type: text/plain\n\nin\n----\nepi\n"},
		{"rfc822-base64", "message/rfc822 with an illegal base64 encoding, and a digest holding a multipart", hdr + "Subject: r64\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"r\"\n\n--r\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeAoKYm9keQo=\n--r\nContent-Type: multipart/digest; boundary=\"dd\"\n\n--dd\nContent-Type: multipart/alternative; boundary=\"da\"\n\n--da\n\nplain default\n--da--\n--dd--\n--r--\n"},
		{"bom-header", "UTF-8 BOM before the first header of a part", hdr + "Subject: bom\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"bom\"\n\n--bom\n\xef\xbb\xbfContent-Type: text/html\n\n<p>bom</p>\n--bom--\n"},
	}
}

func manyParts(n int) string {
	var b strings.Builder
	b.WriteString(hdr + "Subject: many\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"m\"\n\n")
	for i := range n {
		fmt.Fprintf(&b, "--m\nContent-Type: text/plain; name=\"part%02d.txt\"\n\npart %d\n", i, i)
	}
	b.WriteString("--m--\n")
	return b.String()
}

func deep(n int) string {
	var b strings.Builder
	b.WriteString(hdr + "Subject: deep\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"d0\"\n\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "--d%d\nContent-Type: multipart/mixed; boundary=\"d%d\"\n\n", i, i+1)
	}
	fmt.Fprintf(&b, "--d%d\nContent-Type: text/plain\n\nbottom\n--d%d--\n", n, n)
	for i := n - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--d%d--\n", i)
	}
	return b.String()
}

func main() {
	dir := flag.String("dir", "testdata/corpus", "output directory")
	flag.Parse()
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	msgs := corpus()
	var readme strings.Builder
	readme.WriteString("# MIME conformance corpus\n\n" +
		"    cd worker && go test -run 'TestConformance|TestDifferential|TestRewritten' ./message/\n\n" +
		"compares package message with MIME-tools (message/testdata/mimetools-dump.pl, which parses as\n" +
		"MIMEDefang's builtin_create_parser + make_multipart) on every file here. The files are generated:\n" +
		"`go generate ./message/` from worker/ (or `go run ./internal/corpusgen -dir testdata/corpus`).\n" +
		"Each file is an INPUTMSG: header, blank line, body, LF line ends unless the case says otherwise.\n\n" +
		"| File | Exercises |\n|---|---|\n")
	for i, m := range msgs {
		file := fmt.Sprintf("%02d-%s.eml", i+1, m.name)
		if err := os.WriteFile(filepath.Join(*dir, file), []byte(m.body), 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Fprintf(&readme, "| %s | %s |\n", file, strings.ReplaceAll(m.what, "|", "\\|"))
	}
	if err := os.WriteFile(filepath.Join(*dir, "README.md"), []byte(readme.String()), 0o644); err != nil {
		log.Fatal(err)
	}
}

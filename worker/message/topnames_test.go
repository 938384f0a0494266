package message

import (
	"slices"
	"testing"
)

func TestTopNameEdits(t *testing.T) {
	for _, c := range []struct {
		name, header string
		del          []HeaderField
		ct           string
		changeCT     bool
	}{
		{"multipart without a name", "Content-Type: multipart/mixed; boundary=\"b\"\n", nil, "", false},
		{"single part with a name: make_multipart gives it to the filter",
			"Content-Type: application/octet-stream; name=\"x.exe\"\nContent-Disposition: attachment; filename=\"x.exe\"\n", nil, "", false},
		{"disposition on the container",
			"Content-Type: multipart/mixed; boundary=\"b\"\nContent-Disposition: attachment; filename=\"screen.scr\"\n",
			[]HeaderField{{"Content-Disposition", "1"}}, "", false},
		{"name on the container's type",
			"Content-Type: multipart/mixed; name=\"evil.exe\"; boundary=b; filename*=UTF-8''e.exe\n",
			nil, `multipart/mixed; boundary="b"`, true},
		{"a name on the type: every disposition goes too",
			"content-disposition: inline\nContent-Type: multipart/related; boundary=b; name*0=ev; name*1=il.exe\n",
			[]HeaderField{{"content-disposition", "1"}}, `multipart/related; boundary="b"`, true},
	} {
		raw := "Subject: t\n" + c.header + "\n--b\nContent-Type: text/plain\n\nhi\n--b--\n"
		m, err := Parse([]byte(raw), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		del, ct, changeCT := m.TopNameEdits()
		if !slices.Equal(del, c.del) || ct != c.ct || changeCT != c.changeCT {
			t.Errorf("%s: TopNameEdits() = %v, %q, %v; want %v, %q, %v", c.name, del, ct, changeCT, c.del, c.ct, c.changeCT)
		}
	}
}

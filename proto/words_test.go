package proto

import (
	"reflect"
	"testing"
)

func TestSplitN(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
		want []string
	}{
		{"four fields", "msg 554 5.7.1 0", 4, []string{"msg", "554", "5.7.1", "0"}},
		{"rest keeps spaces", "a b c d e f", 4, []string{"a", "b", "c", "d e f"}},
		{"single separator, empty fields kept", "  554", 4, []string{"", "", "554"}},
		{"missing fields absent", "msg", 4, []string{"msg"}},
		{"trailing space gives empty field", "msg ", 4, []string{"msg", ""}},
		{"tab separates", "a\tb", 2, []string{"a", "b"}},
		{"empty", "", 4, []string{""}},
		{"n=1", "a b", 1, []string{"a b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SplitN(tt.in, tt.n); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SplitN(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
			}
		})
	}
}

func TestFields(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"scan Q /d", []string{"scan", "Q", "/d"}},
		{"  a \t\v\f b\r\n", []string{"a", "b"}},
		{"a\xa0b\x85c", []string{"a\xa0b\x85c"}}, // only ASCII white space
		{"", []string{}},
	}
	for _, tt := range tests {
		if got := Fields(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Fields(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got, want := DecodeFields("a%20b c%25"), []string{"a b", "c%"}; !reflect.DeepEqual(got, want) {
		t.Errorf("DecodeFields = %q, want %q", got, want)
	}
	if got, want := EncodeLine("ok", "a b", `"q"`), "ok a%20b %22q%22"; got != want {
		t.Errorf("EncodeLine = %q, want %q", got, want)
	}
}

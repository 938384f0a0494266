package proto

import (
	"fmt"
	"testing"
)

func TestEncode(t *testing.T) {
	tests := []struct {
		name, in, wide, narrow string
	}{
		{"empty", "", "", ""},
		{"plain", "tester@mdlab.localdomain", "tester@mdlab.localdomain", "tester@mdlab.localdomain"},
		{"angle brackets stay", "<a@b>", "<a@b>", "<a@b>"},
		{"space", "a b", "a%20b", "a%20b"},
		{"percent", "100%", "100%25", "100%25"},
		{"percent that looks like an escape", "%41", "%2541", "%2541"},
		{"backslash", `a\b`, "a%5Cb", `a\b`},
		{"single quote", "it's", "it%27s", "it's"},
		{"double quote", `"x"`, "%22x%22", `"x"`},
		{"tab CR LF", "a\tb\r\nc", "a%09b%0D%0Ac", "a%09b%0D%0Ac"},
		{"NUL", "a\x00b", "a%00b", "a%00b"},
		{"0x1F and 0x20", "\x1f\x20", "%1F%20", "%1F%20"},
		{"0x21 and 0x7E kept", "!~", "!~", "!~"},
		{"DEL", "\x7f", "%7F", "%7F"},
		{"8-bit", "caf\xc3\xa9\xff", "caf%C3%A9%FF", "caf%C3%A9%FF"},
		{"upper-case hex", "\xab", "%AB", "%AB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Encode(tt.in); got != tt.wide {
				t.Errorf("Encode(%q) = %q, want %q", tt.in, got, tt.wide)
			}
			if got := EncodeCommands(tt.in); got != tt.narrow {
				t.Errorf("EncodeCommands(%q) = %q, want %q", tt.in, got, tt.narrow)
			}
			if got := Decode(tt.wide); got != tt.in {
				t.Errorf("Decode(%q) = %q, want %q", tt.wide, got, tt.in)
			}
			if got := Decode(tt.narrow); got != tt.in {
				t.Errorf("Decode(%q) = %q, want %q", tt.narrow, got, tt.in)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"no escapes", "abc", "abc"},
		{"lower-case hex", "%3a%5c", `:\`},
		{"mixed case", "%aB", "\xab"},
		{"lone percent", "%", "%"},
		{"percent at end", "ab%", "ab%"},
		{"one digit at end", "ab%4", "ab%4"},
		{"not hex", "%zz%4g", "%zz%4g"},
		{"single pass", "%2541", "%41"},
		{"percent after failed escape", "%%41", "%A"},
		{"NUL", "%00", "\x00"},
		{"escape then text", "%41BC", "ABC"},
		{"8-bit raw bytes pass", "\xff%FF", "\xff\xff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Decode(tt.in); got != tt.want {
				t.Errorf("Decode(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func ExampleEncode() {
	// The wide set: used on every socket and in RESULTS.
	fmt.Println(Encode(`Bob "B" O'Neil <bob@example.com> 100%`))
	// The narrow set: used only in COMMANDS, leaves \ ' " alone.
	fmt.Println(EncodeCommands(`Bob "B" O'Neil <bob@example.com> 100%`))
	// Output:
	// Bob%20%22B%22%20O%27Neil%20<bob@example.com>%20100%25
	// Bob%20"B"%20O'Neil%20<bob@example.com>%20100%25
}

func ExampleDecode() {
	fmt.Println(Decode("Bob%20%22B%22"))
	fmt.Println(Decode("100% sure, %zz")) // malformed escapes are kept
	// Output:
	// Bob "B"
	// 100% sure, %zz
}

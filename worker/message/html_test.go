package message

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

var htmlCases = []string{
	"<html><body>x</body></html>",
	"<html><body>x</BODY></html>",
	"<html><body>x< /body></html>",
	"<html><body>x</ BODY  ></html>",
	"<p>x</p></html>",
	"<p>x</p>",
	"",
	"<!-- </body> --><p>x</p></body>",
	"</bodyx></html>",
	"</html></body>",
	"<script>document.write(\"</body>\")</script></body>",
	"<STYLE>p{}</style>y</Body >",
	"<a title=\"</body>\">x</a></body>",
	"<!DOCTYPE html><?xml x?><body>x</body>",
	"text only\n",
	"<body>x</body\n>",
}

// htmlOracle runs MIMEDefang's append_to_html_part logic (HTML::Parser with
// the html_echo/html_end handlers) over each input.
func htmlOracle(t *testing.T, inputs []string) []string {
	t.Helper()
	const script = `
use HTML::Parser;
local $/ = "\0\n";
while (my $in = <STDIN>) {
    chomp $in;
    my ($out, $found) = ('', 0);
    my $p = HTML::Parser->new(api_version => 3,
        default_h => [sub { $out .= shift }, "text"],
        end_h => [sub { my $t = shift;
            if (!$found && $t =~ m+<\s*/body+i) { $out .= "B\n"; $found = 1 }
            if (!$found && $t =~ m+<\s*/html+i) { $out .= "B\n"; $found = 1 }
            $out .= $t }, "text"]);
    $p->unbroken_text(1);
    $p->parse($in);
    $p->eof;
    $out .= "\nB\n" unless $found;
    print $out, "\0\n";
}`
	if err := exec.Command("perl", "-MHTML::Parser", "-e1").Run(); err != nil {
		t.Fatalf("the AppendHTML oracle needs perl with HTML::Parser (%v); install it with: apt-get install -y libhtml-parser-perl", err)
	}
	cmd := exec.Command("perl", "-e", script)
	cmd.Stdin = strings.NewReader(strings.Join(inputs, "\x00\n") + "\x00\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("perl: %v", err)
	}
	res := strings.Split(string(out), "\x00\n")
	return res[:len(res)-1]
}

func TestAppendHTMLMatchesHTMLParser(t *testing.T) {
	want := htmlOracle(t, htmlCases)
	if len(want) != len(htmlCases) {
		t.Fatalf("oracle returned %d results for %d cases", len(want), len(htmlCases))
	}
	for i, in := range htmlCases {
		got := insertHTML([]byte(in), "B")
		if !bytes.Equal(got, []byte(want[i])) {
			t.Errorf("insertHTML(%q) = %q, HTML::Parser gives %q", in, got, want[i])
		}
	}
}

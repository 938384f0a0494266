package results

import (
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mdgo/md/milterd/internal/policy"
)

// Shorthands for expected actions.
func addH(line int, name, value string) Action {
	return Action{Kind: AddHeader, Line: line, Name: name, Value: value}
}
func insH(line int, name string, idx int, value string) Action {
	return Action{Kind: InsertHeader, Line: line, Name: name, Index: idx, Value: value}
}
func chgH(line int, name string, idx int, value string) Action {
	return Action{Kind: ChangeHeader, Line: line, Name: name, Index: idx, Value: value}
}
func delH(line int, name string, idx int) Action {
	return Action{Kind: DeleteHeader, Line: line, Name: name, Index: idx}
}
func act(k Kind, line int, value string) Action { return Action{Kind: k, Line: line, Value: value} }

func reply(code, dsn string, lines ...string) *policy.SMTPReply {
	return &policy.SMTPReply{Code: code, DSN: dsn, Lines: lines}
}

const (
	noF      = "RESULTS file did not finish with 'F' line: Tempfailing"
	bouncing = "Bouncing because filter instructed us to"
)

func unknown(c string) string { return "Unknown command '" + c + "' in RESULTS file" }

// want is an expected plan; notes are compared as texts.
type want struct {
	disp      Disposition
	reply     *policy.SMTPReply
	actions   []Action
	rejecting bool
	sawF      bool
	failed    bool
	notes     []string
}

func check(t *testing.T, in string, got Plan, w want) {
	t.Helper()
	var notes []string
	for _, n := range got.Notes {
		notes = append(notes, n.Text)
	}
	wp := Plan{Disposition: w.disp, Reply: w.reply, Actions: w.actions, Rejecting: w.rejecting,
		SawF: w.sawF, FilterFailed: w.failed}
	got.Notes = nil
	if !reflect.DeepEqual(got, wp) || !reflect.DeepEqual(notes, w.notes) {
		t.Errorf("RESULTS %q\n got %s\n     notes %q\nwant %s\n     notes %q", trim(in), dump(got), notes, dump(wp), w.notes)
	}
}

func trim(s string) string {
	if len(s) > 200 {
		return s[:100] + "..." + s[len(s)-100:]
	}
	return s
}

func TestParseLetters(t *testing.T) {
	ok := func(actions ...Action) want { return want{disp: Accept, sawF: true, actions: actions} }
	okNotes := func(notes []string, actions ...Action) want {
		w := ok(actions...)
		w.notes = notes
		return w
	}
	tests := []struct {
		name string
		in   string
		env  Env
		want want
	}{
		// F
		{"only F", "F\n", Env{}, ok()},
		{"F without LF", "F", Env{}, ok()},
		{"F with junk", "Fjunk\n", Env{}, ok()},
		{"lines after F are not processed", "F\nHX-A 1\nZ\n", Env{}, ok()},

		// H
		{"H", "HX-A b\nF\n", Env{}, ok(addH(1, "X-A", "b"))},
		{"H raw spaces stay in the value", "HX-A a b  c\nF\n", Env{}, ok(addH(1, "X-A", "a b  c"))},
		{"H decoded, CR removed", "HX%2DA%3A v%0D%0Aw%0D\nF\n", Env{}, ok(addH(1, "X-A:", "v\n\tw"))}, // the line end made a fold
		{"H tab separates", "HX-A\tv\nF\n", Env{}, ok(addH(1, "X-A", "v"))},
		{"H without value is skipped", "HX-A\nF\n", Env{}, ok()},
		{"H with empty value", "HX-A \nF\n", Env{}, ok(addH(1, "X-A", ""))},
		{"H with empty name", "H v\nF\n", Env{}, okNotes([]string{"smfi_addheader returned MI_FAILURE"})},
		{"H decoded NUL ends the value", "HX-A a%00b\nF\n", Env{}, ok(addH(1, "X-A", "a"))},
		{"H name decoding to empty", "H%00 v\nF\n", Env{}, okNotes([]string{"smfi_addheader returned MI_FAILURE"})},
		{"H bare percent", "HX-A 100%\nF\n", Env{}, ok(addH(1, "X-A", "100%"))},

		// N
		{"N", "NX-A 2 v\nF\n", Env{}, ok(insH(1, "X-A", 2, "v"))},
		{"N zero", "NX-A 0 v\nF\n", Env{}, ok(insH(1, "X-A", 0, "v"))},
		{"N negative", "NX-A -3 v\nF\n", Env{}, ok(insH(1, "X-A", 0, "v"))},
		{"N not a number", "NX-A abc v\nF\n", Env{}, ok(insH(1, "X-A", 0, "v"))},
		{"N number then junk", "NX-A 5x v\nF\n", Env{}, ok(insH(1, "X-A", 5, "v"))},
		{"N encoded sign and space", "NX-A %20%2B7 v\nF\n", Env{}, ok(insH(1, "X-A", 7, "v"))},
		{"N beyond int: low 32 bits", "NX-A 99999999999 v\nF\n", Env{}, ok(insH(1, "X-A", 1215752191, "v"))},
		{"N wraps negative", "NX-A 4294967295 v\nF\n", Env{}, ok(insH(1, "X-A", 0, "v"))},
		{"N beyond long saturates", "NX-A 99999999999999999999 v\nF\n", Env{}, ok(insH(1, "X-A", 0, "v"))},
		{"N without value", "NX-A 2\nF\n", Env{}, ok()},
		{"N with empty value", "NX-A 2 \nF\n", Env{}, ok(insH(1, "X-A", 2, ""))},
		{"N value keeps spaces, loses CR", "NX-A 1 a b\r\nF\n", Env{}, ok(insH(1, "X-A", 1, "a b"))},
		{"N empty name", "N 1 v\nF\n", Env{}, okNotes([]string{"smfi_insheader returned MI_FAILURE"})},
		{"N empty name and count", "N  1 v\nF\n", Env{}, okNotes([]string{"smfi_insheader returned MI_FAILURE"})},

		// I
		{"I", "IX-A 3 v\nF\n", Env{}, ok(chgH(1, "X-A", 3, "v"))},
		{"I zero", "IX-A 0 v\nF\n", Env{}, ok(chgH(1, "X-A", 1, "v"))},
		{"I negative", "IX-A -1 v\nF\n", Env{}, ok(chgH(1, "X-A", 1, "v"))},
		{"I not a number", "IX-A x v\nF\n", Env{}, ok(chgH(1, "X-A", 1, "v"))},
		{"I empty value", "IX-A 2 \nF\n", Env{}, ok(chgH(1, "X-A", 2, ""))},
		{"I value with spaces and CR", "IX-A 1 a b%0D\nF\n", Env{}, ok(chgH(1, "X-A", 1, "a b"))},
		{"I missing value", "IX-A 1\nF\n", Env{}, ok()},
		{"I missing count", "IX-A\nF\n", Env{}, ok()},

		// J
		{"J", "JX-A 2\nF\n", Env{}, ok(delH(1, "X-A", 2))},
		{"J zero", "JX-A 0\nF\n", Env{}, ok(delH(1, "X-A", 1))},
		{"J count with junk", "JX-A 3 junk\nF\n", Env{}, ok(delH(1, "X-A", 3))},
		{"J empty count", "JX-A \nF\n", Env{}, ok(delH(1, "X-A", 1))},
		{"J without count", "JX-A\nF\n", Env{}, ok()},
		{"J empty name", "J 1\nF\n", Env{}, okNotes([]string{"smfi_chgheader returned MI_FAILURE"})},
		{"J as action_delete_all_headers writes it", "JReceived 3\nJReceived 2\nJReceived 1\nF\n", Env{},
			ok(delH(1, "Received", 3), delH(2, "Received", 2), delH(3, "Received", 1))},

		// R, S, f
		{"R", "R<a@b>\nF\n", Env{}, ok(act(AddRecipient, 1, "<a@b>"))},
		{"R encoded", "R%3Ca%40b%3E\nF\n", Env{}, ok(act(AddRecipient, 1, "<a@b>"))},
		{"R keeps raw spaces", "R<a@b> x\nF\n", Env{}, ok(act(AddRecipient, 1, "<a@b> x"))},
		{"R keeps CR", "R<a@b>\r\nF\n", Env{}, ok(act(AddRecipient, 1, "<a@b>\r"))},
		{"R empty", "R\nF\n", Env{}, okNotes([]string{"smfi_addrcpt returned MI_FAILURE"})},
		{"S", "S<a@b>\nF\n", Env{}, ok(act(DeleteRecipient, 1, "<a@b>"))},
		{"S empty", "S\nF\n", Env{}, okNotes([]string{"smfi_delrcpt returned MI_FAILURE"})},
		{"f", "f<new@x>\nF\n", Env{}, ok(act(ChangeSender, 1, "<new@x>"))},
		{"f empty", "f\nF\n", Env{}, okNotes([]string{"smfi_chgfrom returned MI_FAILURE"})},

		// Q
		{"Q", "Qspam%20found\nF\n", Env{}, ok(act(Quarantine, 1, "spam found"))},
		{"Q empty", "Q\nF\n", Env{}, okNotes([]string{"do_sm_quarantine returned MI_FAILURE"})},

		// M
		{"M without MIME-Version", "Mtext/plain\nF\n", Env{},
			ok(chgH(1, "Content-Type", 1, "text/plain"), chgH(1, "MIME-Version", 1, "1.0"))},
		{"M with MIME-Version", "Mtext/plain\nF\n", Env{SeenMIMEVersion: true}, ok(chgH(1, "Content-Type", 1, "text/plain"))},
		{"M empty still fixes MIME-Version", "M\nF\n", Env{}, ok(chgH(1, "MIME-Version", 1, "1.0"))},
		{"M empty with MIME-Version", "M\nF\n", Env{SeenMIMEVersion: true}, ok()},
		{"M keeps raw spaces and CR", "Mtext/plain; charset=x\r\nF\n", Env{SeenMIMEVersion: true},
			ok(chgH(1, "Content-Type", 1, "text/plain; charset=x\r"))},
		{"M twice", "Ma/b\nMc/d\nF\n", Env{}, ok(chgH(1, "Content-Type", 1, "a/b"), chgH(1, "MIME-Version", 1, "1.0"),
			chgH(2, "Content-Type", 1, "c/d"), chgH(2, "MIME-Version", 1, "1.0"))},

		// C
		{"C", "C\nF\n", Env{}, ok(act(ReplaceBody, 1, ""))},
		{"C with junk", "Cjunk\nF\n", Env{}, ok(act(ReplaceBody, 1, ""))},
		{"C twice", "C\nC\nF\n", Env{}, ok(act(ReplaceBody, 1, ""), act(ReplaceBody, 2, ""))},

		// B
		{"B", "B550 5.1.1 No%20such%20user\nF\n", Env{}, want{disp: Reject, rejecting: true,
			reply: reply("550", "5.1.1", "No such user"), notes: []string{bouncing}}},
		{"B alone", "B\nF\n", Env{}, want{disp: Reject, rejecting: true,
			reply: reply("554", "5.7.1", "Forbidden for policy reasons"), notes: []string{bouncing}}},
		{"B wrong class", "B451 4.3.0 x\nF\n", Env{}, want{disp: Reject, rejecting: true,
			reply: reply("554", "5.7.1", "x"), notes: []string{bouncing}}},
		{"B leading space shifts the fields", "B 550 5.1.1 x\nF\n", Env{}, want{disp: Reject, rejecting: true,
			reply: reply("554", "5.7.1", "5.1.1 x"), notes: []string{bouncing}}},
		{"B raw spaces in the text", "B550 5.7.1 raw spaces  kept\n", Env{}, want{disp: Reject, rejecting: true,
			reply: reply("550", "5.7.1", "raw spaces  kept"), notes: []string{bouncing}}},
		{"B multi-line", "B550 5.7.1 a%0Ab\nF\n", Env{}, want{disp: Reject, rejecting: true,
			reply: reply("550", "5.7.1", "a", "b"), notes: []string{bouncing}}},
		{"B percent", "B550 5.7.1 100%25%20sure\nF\n", Env{}, want{disp: Reject, rejecting: true,
			reply: reply("550", "5.7.1", "100% sure"), notes: []string{bouncing}}},
		{"B code only", "B550\n", Env{}, want{disp: Reject, rejecting: true,
			reply: reply("550", "5.7.1", "Forbidden for policy reasons"), notes: []string{bouncing}}},
		{"B CRLF", "B550 5.7.1 no\r\nF\r\n", Env{}, want{disp: Reject, rejecting: true,
			reply: reply("550", "5.7.1", "no "), notes: []string{bouncing}}},

		// T
		{"T", "T452 4.3.1 later\nF\n", Env{}, want{disp: TempFail, rejecting: true,
			reply: reply("452", "4.3.1", "later"), notes: []string{"Tempfailing because filter instructed us to"}}},
		{"T alone", "T\nF\n", Env{}, want{disp: TempFail, rejecting: true,
			reply: reply("451", "4.3.0", "Please try again later"), notes: []string{"Tempfailing because filter instructed us to"}}},
		{"T with a 5xx code", "T554 5.7.1 x\nF\n", Env{}, want{disp: TempFail, rejecting: true,
			reply: reply("451", "4.3.0", "x"), notes: []string{"Tempfailing because filter instructed us to"}}},

		// D
		{"D", "D\nF\n", Env{}, want{disp: Discard, rejecting: true, notes: []string{"Discarding because filter instructed us to"}}},
		{"D with junk", "Dxyz\n", Env{}, want{disp: Discard, rejecting: true, notes: []string{"Discarding because filter instructed us to"}}},

		// Unknown letters and empty lines
		{"unknown letter", "Zfoo\nHX-A 1\nF\n", Env{}, okNotes([]string{unknown("Z")}, addH(2, "X-A", "1"))},
		{"lower-case h is unknown", "hX-A 1\nF\n", Env{}, okNotes([]string{unknown("h")})},
		{"space first", " F\nF\n", Env{}, okNotes([]string{unknown(" ")})},
		{"empty lines", "\nHX-A 1\n\nF\n", Env{}, okNotes([]string{unknown(""), unknown("")}, addH(2, "X-A", "1"))},
		{"CRLF file", "HX-A v\r\nF\r\n", Env{}, ok(addH(1, "X-A", "v"))},
		// A line end in a value is always a fold: no header line of the
		// sender's choosing (a decoded file name copied into a header).
		{"H value with a line end", "HX-A a%0AX-Evil:%201%0D%0A%20ok%0A\nF\n", Env{}, ok(addH(1, "X-A", "a\n\tX-Evil: 1\n ok"))},
		{"N value with a line end", "NX-A 0 a%0Ab\nF\n", Env{}, ok(insH(1, "X-A", 0, "a\n\tb"))},
		{"I value with a line end", "IX-A 1 a%0Ab\nF\n", Env{}, ok(chgH(1, "X-A", 1, "a\n\tb"))},
		{"M value with a line end", "Mtext/plain%0AX-Evil: 1\nF\n", Env{SeenMIMEVersion: true}, ok(chgH(1, "Content-Type", 1, "text/plain\n\tX-Evil: 1"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, tt.in, Parse([]byte(tt.in), tt.env), tt.want)
		})
	}
}

func TestParseRejectingAndOrder(t *testing.T) {
	tests := []struct {
		name string
		in   string
		env  Env
		want want
	}{
		{"modifications before B are skipped, Q is kept",
			"HX-A 1\nQfirst\nR<a@b>\nC\nMtext/plain\nB550 5.7.1 no\nQafter\nF\n", Env{ScannedBy: "MD"},
			want{disp: Reject, rejecting: true, reply: reply("550", "5.7.1", "no"),
				actions: []Action{act(Quarantine, 2, "first")}, notes: []string{bouncing}}},
		{"a B after F still suppresses everything, and the message is accepted",
			"HX-A 1\nC\nQq\nF\nB550 5.7.1 no\n",
			Env{ScannedBy: "MIMEDefang 3.3", MyIP: "127.0.0.1", ValidateHeader: "X-MIMEDefang-Relay-1", ValidatePresent: true, ContentTypeHeaders: 2},
			want{disp: Accept, rejecting: true, sawF: true, actions: []Action{
				act(Quarantine, 3, "q"),
				delH(0, "X-MIMEDefang-Relay-1", 1),
				delH(0, "Content-Type", 2),
			}, notes: []string{"WARNING: 2 Content-Type headers found -- deleting all but first"}}},
		{"a T after F", "HX-A 1\nF\nT\n", Env{ScannedBy: "MD"}, want{disp: Accept, rejecting: true, sawF: true}},
		{"a D after F", "F\nDiscard me\n", Env{ScannedBy: "MD"}, want{disp: Accept, rejecting: true, sawF: true}},
		{"a lower-case b does not count", "HX-A 1\nF\nb\n", Env{}, want{disp: Accept, sawF: true, actions: []Action{addH(1, "X-A", "1")}}},
		{"the first of B, T, D wins", "T\nB\nD\nF\n", Env{}, want{disp: TempFail, rejecting: true,
			reply: reply("451", "4.3.0", "Please try again later"), notes: []string{"Tempfailing because filter instructed us to"}}},
		{"B, T or D without F still answers", "D", Env{}, want{disp: Discard, rejecting: true, notes: []string{"Discarding because filter instructed us to"}}},
		{"the worker's order: actions, M, I, J, C, wrapup, F",
			"HX-Spam yes\nMmultipart/mixed;%20boundary=%22b%22\nIContent-Disposition 1 inline\nJContent-Transfer-Encoding 1\nC\nHX-Wrapup 1\nF\n",
			Env{ScannedBy: "MIMEDefang 3.7.1"},
			want{disp: Accept, sawF: true, actions: []Action{
				addH(1, "X-Spam", "yes"),
				chgH(2, "Content-Type", 1, `multipart/mixed; boundary="b"`),
				chgH(2, "MIME-Version", 1, "1.0"),
				chgH(3, "Content-Disposition", 1, "inline"),
				delH(4, "Content-Transfer-Encoding", 1),
				act(ReplaceBody, 5, ""),
				addH(6, "X-Wrapup", "1"),
				addH(0, "X-Scanned-By", "MIMEDefang 3.7.1"),
			}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, tt.in, Parse([]byte(tt.in), tt.env), tt.want)
		})
	}
}

func TestParseAfterResults(t *testing.T) {
	tests := []struct {
		name    string
		env     Env
		actions []Action
		notes   []string
	}{
		{"nothing", Env{}, nil, nil},
		{"X-Scanned-By without myip", Env{ScannedBy: "MIMEDefang 3.3"}, []Action{addH(0, "X-Scanned-By", "MIMEDefang 3.3")}, nil},
		{"X-Scanned-By with myip", Env{ScannedBy: "MIMEDefang 3.3", MyIP: "192.0.2.7"},
			[]Action{addH(0, "X-Scanned-By", "MIMEDefang 3.3 on 192.0.2.7")}, nil},
		{"-X: no header even with myip", Env{MyIP: "192.0.2.7"}, nil, nil},
		{"X-Scanned-By cut at SMALLBUF-1", Env{ScannedBy: strings.Repeat("s", 20000), MyIP: "1.2.3.4"},
			[]Action{addH(0, "X-Scanned-By", strings.Repeat("s", MaxLine+1))}, nil},
		{"validation header seen", Env{ValidateHeader: "X-MIMEDefang-Relay-abc", ValidatePresent: true},
			[]Action{delH(0, "X-MIMEDefang-Relay-abc", 1)}, nil},
		{"validation header configured, none seen", Env{ValidateHeader: "X-MIMEDefang-Relay-abc"}, nil, nil},
		{"one Content-Type", Env{ContentTypeHeaders: 1}, nil, nil},
		{"three Content-Types, deleted in increasing order", Env{ContentTypeHeaders: 3},
			[]Action{delH(0, "Content-Type", 2), delH(0, "Content-Type", 3)},
			[]string{"WARNING: 3 Content-Type headers found -- deleting all but first"}},
		{"all three, in the original's order", Env{ScannedBy: "MD", ValidateHeader: "V", ValidatePresent: true, ContentTypeHeaders: 2},
			[]Action{addH(0, "X-Scanned-By", "MD"), delH(0, "V", 1), delH(0, "Content-Type", 2)},
			[]string{"WARNING: 2 Content-Type headers found -- deleting all but first"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, "F\n", Parse([]byte("F\n"), tt.env), want{disp: Accept, sawF: true, actions: tt.actions, notes: tt.notes})
			// None of it happens without F.
			p := Parse([]byte("HX-A 1\n"), tt.env)
			if p.Disposition != TempFail || len(p.Actions) != 1 {
				t.Errorf("without F: %s", dump(p))
			}
		})
	}
}

func TestParseBrokenFiles(t *testing.T) {
	overlongNote := func(n int) string {
		return "Overlong line in RESULTS file - " + itoa(n) + " chars (max 16383)"
	}
	overlongReply := reply("554", "5.4.0", "Overlong line in RESULTS file")
	longValue := func(lineLen int) string { return "HX-A " + strings.Repeat("v", lineLen-5) }
	big := "F\n" + strings.Repeat("Z"+strings.Repeat("z", 16000)+"\n", 4)
	big += "Z" + strings.Repeat("z", MaxSize-len(big)-2) + "\n"
	tests := []struct {
		name string
		in   string
		want want
	}{
		{"empty file", "", want{disp: TempFail, notes: []string{noF}}},
		{"missing F keeps what came first", "HX-A 1\nR<a@b>\n", want{disp: TempFail,
			actions: []Action{addH(1, "X-A", "1"), act(AddRecipient, 2, "<a@b>")}, notes: []string{noF}}},
		{"truncated in the middle of a line", "HX-A 1\nHX-B", want{disp: TempFail,
			actions: []Action{addH(1, "X-A", "1")}, notes: []string{noF}}},
		{"truncated B still rejects", "HX-A 1\nB55", want{disp: Reject, rejecting: true,
			reply: reply("554", "5.7.1", "Forbidden for policy reasons"), notes: []string{bouncing}}},
		{"NUL ends the file", "HX-A 1\n\x00F\n", want{disp: TempFail, actions: []Action{addH(1, "X-A", "1")}, notes: []string{noF}}},
		{"NUL hides a later B", "F\n\x00B\n", want{disp: Accept, sawF: true}},
		{"garbage", "\xff\xfe\x01\x00F\n", want{disp: TempFail, notes: []string{unknown("\xff"), noF}}},
		{"garbage lines then F", "\x01\x02\n\x7f\nF\n", want{disp: Accept, sawF: true, notes: []string{unknown("\x01"), unknown("\x7f")}}},
		{"oversize file", strings.Repeat("Q", MaxSize+1), want{disp: TempFail, failed: true,
			notes: []string{"RESULTS file is unreasonably large - 65536 byes; max is 65535 bytes"}}},
		{"largest file", big, want{disp: Accept, sawF: true}},
		{"largest file plus one", big + "\n", want{disp: TempFail, failed: true,
			notes: []string{"RESULTS file is unreasonably large - 65536 byes; max is 65535 bytes"}}},
		{"longest line", longValue(MaxLine) + "\nF\n", want{disp: Accept, sawF: true,
			actions: []Action{addH(1, "X-A", strings.Repeat("v", MaxLine-5))}}},
		{"overlong line", "HX-B 1\n" + longValue(MaxLine+1) + "\nF\n", want{disp: Reject, reply: overlongReply,
			actions: []Action{addH(1, "X-B", "1")}, notes: []string{overlongNote(MaxLine + 1)}}},
		{"overlong last line without LF", longValue(MaxLine + 100), want{disp: Reject, reply: overlongReply,
			notes: []string{overlongNote(MaxLine + 100)}}},
		{"overlong B line: the length check comes first", "B550 5.7.1 " + strings.Repeat("x", MaxLine) + "\nF\n",
			want{disp: Reject, rejecting: true, reply: overlongReply, notes: []string{overlongNote(MaxLine + 11)}}},
		{"overlong F line", "F" + strings.Repeat("x", MaxLine) + "\n", want{disp: Reject, reply: overlongReply,
			notes: []string{overlongNote(MaxLine + 1)}}},
		{"overlong line after F is never looked at", "F\n" + longValue(MaxLine+1) + "\n", want{disp: Accept, sawF: true}},
		{"overlong line after Q: the quarantine stays", "Qq\n" + longValue(MaxLine+1) + "\n", want{disp: Reject, reply: overlongReply,
			actions: []Action{act(Quarantine, 1, "q")}, notes: []string{overlongNote(MaxLine + 1)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, tt.in, Parse([]byte(tt.in), Env{}), tt.want)
		})
	}
}

func itoa(n int) string {
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}

func TestNoteLevels(t *testing.T) {
	p := Parse([]byte("Z\n"), Env{})
	if len(p.Notes) != 2 || p.Notes[0].Level != slog.LevelWarn || p.Notes[1].Level != slog.LevelError {
		t.Errorf("notes %+v", p.Notes)
	}
	p = Parse([]byte("B\n"), Env{})
	if len(p.Notes) != 1 || p.Notes[0].Level != slog.LevelDebug {
		t.Errorf("notes %+v", p.Notes)
	}
}

func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoad(t *testing.T) {
	t.Run("no RESULTS", func(t *testing.T) {
		dir := writeDir(t, nil)
		check(t, "(none)", Load(dir, Env{ScannedBy: "MD"}), want{disp: TempFail, failed: true,
			notes: []string{"Filter did not create RESULTS file"}})
	})
	t.Run("oversize RESULTS", func(t *testing.T) {
		dir := writeDir(t, map[string]string{"RESULTS": strings.Repeat("F\n", MaxSize/2+1)})
		check(t, "(big)", Load(dir, Env{}), want{disp: TempFail, failed: true,
			notes: []string{"RESULTS file is unreasonably large - 65536 byes; max is 65535 bytes"}})
	})
	t.Run("RESULTS is a directory", func(t *testing.T) {
		dir := writeDir(t, nil)
		os.Mkdir(filepath.Join(dir, "RESULTS"), 0o700)
		p := Load(dir, Env{})
		if p.Disposition != TempFail || p.FilterFailed || len(p.Notes) != 1 ||
			!strings.HasPrefix(p.Notes[0].Text, "Error reading RESULTS file: ") {
			t.Errorf("%s", dump(p))
		}
	})
	t.Run("with NEWBODY", func(t *testing.T) {
		dir := writeDir(t, map[string]string{"RESULTS": "HX-A 1\nC\nF\n", "NEWBODY": "new\n"})
		check(t, "", Load(dir, Env{}), want{disp: Accept, sawF: true, actions: []Action{
			addH(1, "X-A", "1"), act(ReplaceBody, 2, filepath.Join(dir, "NEWBODY"))}})
	})
	t.Run("NEWBODY missing", func(t *testing.T) {
		dir := writeDir(t, map[string]string{"RESULTS": "HX-A 1\nC\nHX-B 2\nF\n"})
		p := Load(dir, Env{ScannedBy: "MD"})
		notes := p.Notes
		p.Notes = nil
		check(t, "", p, want{disp: TempFail, failed: true, actions: []Action{addH(1, "X-A", "1")}})
		if len(notes) != 1 || !strings.HasPrefix(notes[0].Text, "Could not open "+filepath.Join(dir, "NEWBODY")+" for reading: ") {
			t.Errorf("notes %+v", notes)
		}
	})
	t.Run("NEWBODY not needed when rejecting", func(t *testing.T) {
		dir := writeDir(t, map[string]string{"RESULTS": "C\nD\nF\n"})
		check(t, "", Load(dir, Env{}), want{disp: Discard, rejecting: true,
			notes: []string{"Discarding because filter instructed us to"}})
	})
	t.Run("RESULTS shorter than stat said is fine", func(t *testing.T) {
		dir := writeDir(t, map[string]string{"RESULTS": "F\n"})
		check(t, "", Load(dir, Env{}), want{disp: Accept, sawF: true})
	})
}

func TestScanInt(t *testing.T) {
	tests := []struct {
		in string
		v  int32
		ok bool
	}{
		{"1", 1, true}, {"0", 0, true}, {"-0", 0, true}, {"+12", 12, true}, {"  \t7", 7, true},
		{"\v\f\r\n3", 3, true}, {"5x", 5, true}, {"-2147483648", -2147483648, true},
		{"2147483648", -2147483648, true}, {"4294967297", 1, true},
		{"9223372036854775807", -1, true}, {"9223372036854775808", -1, true},
		{"-9223372036854775808", 0, true}, {"-99999999999999999999", 0, true},
		{"", 0, false}, {"x", 0, false}, {"-", 0, false}, {"+ 1", 0, false}, {" ", 0, false},
	}
	for _, tt := range tests {
		v, ok := scanInt(tt.in)
		if v != tt.v || ok != tt.ok {
			t.Errorf("scanInt(%q) = %d, %v; want %d, %v", tt.in, v, ok, tt.v, tt.ok)
		}
	}
}

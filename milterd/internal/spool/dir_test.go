package spool

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The modes are exact whatever the process umask: 0700/0600, or 0750/0640
// with -G (docs/reference/protocol.md §5.1).
func TestPermissions(t *testing.T) {
	tests := []struct {
		group             bool
		umask             int
		wantDir, wantFile fs.FileMode
	}{
		{false, 0o077, 0o700, 0o600},
		{false, 0o022, 0o700, 0o600},
		{false, 0o000, 0o700, 0o600},
		{true, 0o077, 0o750, 0o640},
		{true, 0o027, 0o750, 0o640},
		{true, 0o000, 0o750, 0o640},
	}
	for _, tt := range tests {
		for _, conserve := range []bool{false, true} {
			old := syscall.Umask(tt.umask)
			spoolDir := t.TempDir()
			w, err := Create(Options{SpoolDir: spoolDir, GroupReadable: tt.group, ConserveDescriptors: conserve}, MailFrom{ID: "abcdefg"})
			if err == nil {
				_ = w.Header("Subject", "x")
				_ = w.EndOfHeaders()
				_ = w.Body([]byte("body\r\n"))
				err = w.Finish()
			}
			syscall.Umask(old)
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(w.Path())
			if err != nil {
				t.Fatal(err)
			}
			if !fi.IsDir() || fi.Mode().Perm() != tt.wantDir {
				t.Errorf("-G=%v umask %03o: directory mode %v, want %v", tt.group, tt.umask, fi.Mode(), tt.wantDir)
			}
			for _, f := range []string{CommandsFile, HeadersFile, InputMsgFile} {
				fi, err := os.Stat(filepath.Join(w.Path(), f))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != tt.wantFile {
					t.Errorf("-G=%v umask %03o -C=%v: %s mode %v, want %v", tt.group, tt.umask, conserve, f, fi.Mode(), tt.wantFile)
				}
			}
		}
	}
}

func TestCreate(t *testing.T) {
	spoolDir := t.TempDir()
	opts := Options{SpoolDir: spoolDir}
	w, err := Create(opts, MailFrom{ID: "iwGTg00", Sender: "<a@b>"})
	if err != nil {
		t.Fatal(err)
	}
	if w.Path() != filepath.Join(spoolDir, "mdefang-iwGTg00") {
		t.Errorf("Path() = %q", w.Path())
	}
	// HEADERS exists and is empty, COMMANDS holds the MAIL FROM batch,
	// INPUTMSG does not exist before the first header.
	if got := readFile(t, w, HeadersFile); got != "" {
		t.Errorf("HEADERS %q", got)
	}
	if got := readFile(t, w, CommandsFile); got != "iiwGTg00\nS<a@b>\n=client_port 0\nH\nI\n" {
		t.Errorf("COMMANDS %q", got)
	}
	if _, err := os.Stat(filepath.Join(w.Path(), InputMsgFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("INPUTMSG before any header: %v", err)
	}

	// A name clash fails; the existing directory is left alone.
	_, err = Create(opts, MailFrom{ID: "iwGTg00"})
	if !errors.Is(err, fs.ErrExist) || !strings.HasPrefix(err.Error(), "spool: ") {
		t.Errorf("second Create: %v, want a spool: error wrapping fs.ErrExist", err)
	}
	if got := readFile(t, w, CommandsFile); !strings.HasPrefix(got, "iiwGTg00\nS<a@b>\n") {
		t.Errorf("clash changed the first directory: %q", got)
	}

	if _, err := Create(Options{}, MailFrom{ID: "x"}); err == nil {
		t.Error("Create without a spool directory succeeded")
	}
	if _, err := Create(Options{SpoolDir: filepath.Join(spoolDir, "missing")}, MailFrom{ID: "x"}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Create in a missing spool directory: %v", err)
	}
}

// fillLikeWorker adds what a worker leaves in a directory: RESULTS, Work/
// with parts, and a symbolic link whose target must survive the removal.
func fillLikeWorker(t *testing.T, dir, outside string) {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Helper()
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, ResultsFile), []byte("F\n"), 0o600))
	must(os.MkdirAll(filepath.Join(dir, "Work", "sub"), 0o700))
	must(os.WriteFile(filepath.Join(dir, "Work", "sub", "PART"), []byte("x"), 0o600))
	must(os.Symlink(outside, filepath.Join(dir, "Work", "link")))
}

func TestCleanup(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		noDelete bool
		failed   bool
		want     Disposition
	}{
		{"default removes", Options{}, false, false, Removed},
		{"-d keeps", Options{Debug: true}, false, false, KeptDebug},
		{"DO-NOT-DELETE-WORK-DIRS keeps", Options{}, true, false, KeptNoDeleteFile},
		{"-k with a failed filter keeps", Options{KeepFailed: true}, false, true, KeptFilterFailed},
		{"-k with a good filter removes", Options{KeepFailed: true}, false, false, Removed},
		{"failed filter without -k removes", Options{}, false, true, Removed},
		{"-d wins over the rest", Options{Debug: true, KeepFailed: true}, true, true, KeptDebug},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.SpoolDir = t.TempDir()
			outside := filepath.Join(t.TempDir(), "keep-me")
			if err := os.WriteFile(outside, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			if tt.noDelete {
				if err := os.WriteFile(filepath.Join(tt.opts.SpoolDir, NoDeleteFile), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			w := newDir(t, tt.opts, MailFrom{})
			_ = w.Header("Subject", "x")
			fillLikeWorker(t, w.Path(), outside)
			if tt.failed {
				w.MarkFilterFailed()
			}
			d, err := w.Cleanup()
			if err != nil || d != tt.want {
				t.Fatalf("Cleanup() = %v, %v; want %v", d, err, tt.want)
			}
			_, statErr := os.Stat(w.Path())
			if gone := errors.Is(statErr, fs.ErrNotExist); gone != (d == Removed) {
				t.Errorf("directory gone = %v after %v", gone, d)
			}
			if _, err := os.Stat(outside); err != nil {
				t.Errorf("symlink target removed: %v", err)
			}
			if d2, err := w.Cleanup(); d2 != AlreadyCleaned || err != nil {
				t.Errorf("second Cleanup() = %v, %v", d2, err)
			}
			if err := w.Header("a", "b"); !errors.Is(err, ErrClosed) {
				t.Errorf("Header after Cleanup: %v", err)
			}
		})
	}
}

// Remove ignores -d and the no-delete file, as rm_r of a leftover directory
// at the next MAIL FROM does.
func TestRemove(t *testing.T) {
	opts := Options{SpoolDir: t.TempDir(), Debug: true}
	if err := os.WriteFile(filepath.Join(opts.SpoolDir, NoDeleteFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w := newDir(t, opts, MailFrom{})
	fillLikeWorker(t, w.Path(), filepath.Join(t.TempDir(), "nowhere"))
	if err := w.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(w.Path()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("directory still there: %v", err)
	}
	if err := w.Remove(); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	if d, _ := w.Cleanup(); d != AlreadyCleaned {
		t.Errorf("Cleanup after Remove = %v", d)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("this test counts descriptors in /proc/self/fd: %v", err)
	}
	return len(ents)
}

// Without -C the files stay open across calls; with -C none stays open
// between calls (get_fd/put_fd).
func TestConserveDescriptors(t *testing.T) {
	for _, conserve := range []bool{false, true} {
		base := openFDs(t)
		w := newDir(t, Options{ConserveDescriptors: conserve}, MailFrom{})
		_ = w.Header("Subject", "x")
		afterHeader := openFDs(t) - base
		_ = w.EndOfHeaders()
		_ = w.Body([]byte("b\r\n"))
		afterBody := openFDs(t) - base
		if err := w.Finish(); err != nil {
			t.Fatal(err)
		}
		afterFinish := openFDs(t) - base
		if conserve && (afterHeader != 0 || afterBody != 0) {
			t.Errorf("-C: %d descriptors open after Header, %d after Body", afterHeader, afterBody)
		}
		// HEADERS and COMMANDS after Header (the header lines are kept
		// until EndOfHeaders, which opens INPUTMSG and closes HEADERS);
		// INPUTMSG and COMMANDS after Body.
		if !conserve && (afterHeader != 2 || afterBody != 2) {
			t.Errorf("without -C: %d descriptors open after Header (want 2), %d after Body (want 2)", afterHeader, afterBody)
		}
		if afterFinish != 0 {
			t.Errorf("-C=%v: %d descriptors left open after Finish", conserve, afterFinish)
		}
		if got := readFile(t, w, InputMsgFile); got != "Subject: x\n\nb\n" {
			t.Errorf("-C=%v: INPUTMSG %q", conserve, got)
		}
	}
}

func TestDispositionString(t *testing.T) {
	for d, want := range map[Disposition]string{
		Removed: "removed", KeptDebug: "kept (-d)", KeptNoDeleteFile: "kept (DO-NOT-DELETE-WORK-DIRS)",
		KeptFilterFailed: "kept (filter failed, -k)", AlreadyCleaned: "already cleaned", 42: "Disposition(42)",
	} {
		if d.String() != want {
			t.Errorf("%d: %q, want %q", int(d), d.String(), want)
		}
	}
}

// TestHeadersWrittenAtEndOfHeaders: Header keeps its lines until
// EndOfHeaders (three writes for all the headers), unless 64 KiB pile up or
// the body comes without an end of headers; the files end up the same.
func TestHeadersWrittenAtEndOfHeaders(t *testing.T) {
	w := newDir(t, Options{}, MailFrom{})
	commandsBefore := readFile(t, w, CommandsFile)
	_ = w.Header("Subject", "hello")
	_ = w.Header("Message-ID", "<a@b>")
	if got := readFile(t, w, HeadersFile); got != "" {
		t.Errorf("HEADERS before EndOfHeaders: %q, want nothing yet", got)
	}
	if got := readFile(t, w, CommandsFile); got != commandsBefore {
		t.Errorf("COMMANDS grew before EndOfHeaders: %q", got)
	}
	if err := w.EndOfHeaders(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, w, HeadersFile); got != "Subject: hello\nMessage-ID: <a@b>\n" {
		t.Errorf("HEADERS: %q", got)
	}
	if got := readFile(t, w, InputMsgFile); got != "Subject: hello\nMessage-ID: <a@b>\n\n" {
		t.Errorf("INPUTMSG: %q", got)
	}
	if got := readFile(t, w, CommandsFile); got != commandsBefore+"Uhello\nX<a@b>\n" {
		t.Errorf("COMMANDS: %q", got)
	}

	// Past maxPending the lines go out at once.
	w2 := newDir(t, Options{}, MailFrom{})
	long := strings.Repeat("x", 1000)
	n := 0
	for readFile(t, w2, HeadersFile) == "" {
		if n > maxPending/1000+1 {
			t.Fatalf("%d headers of 1000 bytes kept in memory", n)
		}
		_ = w2.Header("X-Long", long)
		n++
	}

	// A body without an end of headers still finds the headers first.
	w3 := newDir(t, Options{}, MailFrom{})
	_ = w3.Header("Subject", "no eoh")
	_ = w3.Body([]byte("body\r\n"))
	if err := w3.Finish(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, w3, InputMsgFile); got != "Subject: no eoh\nbody\n" {
		t.Errorf("INPUTMSG without EndOfHeaders: %q", got)
	}
	if got := readFile(t, w3, CommandsFile); !strings.Contains(got, "Uno%20eoh\n") || !strings.HasSuffix(got, "F\n") {
		t.Errorf("COMMANDS without EndOfHeaders: %q", got)
	}
}

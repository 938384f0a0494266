package builtins

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mdgo/md/worker/filter"

	"github.com/mdgo/md/internal/golden"
)

// spoolDir is the working directories the original kept
// (testdata/golden/spool at the top of the repository).
func spoolDir(t testing.TB) string { return golden.Dir(t, "spool") }

// TestTypicalGolden: builtin:typical reproduces mimedefang.pl's RESULTS and
// NEWBODY for every golden case.
func TestTypicalGolden(t *testing.T) {
	for _, name := range []string{"clean", "exe", "reject", "clean-allchecks"} {
		t.Run(name, func(t *testing.T) {
			cfg := filter.DefaultConfig()
			cfg.SpoolDir = t.TempDir()
			cb, err := filter.LoadFilter("builtin:typical", cfg)
			if err != nil {
				t.Fatal(err)
			}
			var log bytes.Buffer
			w := filter.NewWorker(cb, cfg, filter.WorkerOptions{Log: &log})
			dir := t.TempDir()
			for _, f := range []string{"COMMANDS", "HEADERS", "INPUTMSG"} {
				b, _ := os.ReadFile(filepath.Join(spoolDir(t), name, f))
				os.WriteFile(filepath.Join(dir, f), b, 0o600)
			}
			if r := w.Handle(context.Background(), "scan Q "+dir+"\n"); r != "ok\n" {
				t.Fatalf("%q\n%s", r, &log)
			}
			for _, f := range []string{"RESULTS", "NEWBODY"} {
				want, werr := os.ReadFile(filepath.Join(spoolDir(t), name, f))
				got, gerr := os.ReadFile(filepath.Join(dir, f))
				if (werr == nil) != (gerr == nil) || !bytes.Equal(got, want) {
					t.Errorf("%s:\n%q\nwant\n%q", f, got, want)
				}
			}
		})
	}
}

package golden

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDirFindsTheRepositoryCaptures(t *testing.T) {
	t.Setenv(EnvDir, "")
	d := Dir(t, "spool")
	if _, err := os.Stat(filepath.Join(d, "..", "README.md")); err != nil {
		t.Fatalf("Dir(spool) = %s, which is not in the capture directory: %v", d, err)
	}
	abs, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "golden", "spool"))
	if got, _ := filepath.Abs(d); got != abs {
		t.Errorf("Dir(spool) = %s, want %s", got, abs)
	}
}

func TestDirHonoursTheEnvironment(t *testing.T) {
	other := t.TempDir()
	if err := os.Mkdir(filepath.Join(other, "spool"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvDir, other)
	if got := Dir(t, "spool"); got != filepath.Join(other, "spool") {
		t.Errorf("Dir(spool) = %s, want %s", got, filepath.Join(other, "spool"))
	}
}

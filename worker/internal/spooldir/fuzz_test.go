package spooldir

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseCommands: any bytes a milter could leave in COMMANDS parse
// without panicking, and every recipient has its mailer triple.
func FuzzParseCommands(f *testing.F) {
	for _, name := range []string{"clean", "exe", "reject", "clean-allchecks"} {
		if b, err := os.ReadFile(filepath.Join(spoolDir(f), name, "COMMANDS")); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("R\nr\n=\n= \nJ\n%\n%4\nF"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, _ := ParseCommands(bytes.NewReader(b), true, nil)
		for _, r := range c.Recipients {
			if _, ok := c.RecipientMailers[r]; !ok {
				t.Fatalf("recipient %q without mailers", r)
			}
		}
	})
}

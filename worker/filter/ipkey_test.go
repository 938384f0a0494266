package filter

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReadIPKey(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "mimedefang-ip-key")
	if err := os.WriteFile(key, []byte("X-MIMEDefang-Relay-7c0f\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MD_IP_KEY_FILE", key)
	if got := ReadIPKey(); got != "X-MIMEDefang-Relay-7c0f" {
		t.Errorf("ReadIPKey = %q", got)
	}
	t.Setenv("MD_IP_KEY_FILE", filepath.Join(dir, "none"))
	if got := ReadIPKey(); got != "" {
		t.Errorf("missing file: %q", got)
	}
	if h, err := CheckIPKey("X-Other"); h != "" || err == nil || err.Error() != "Invalid value for mimedefang-ip-key: X-Other" {
		t.Errorf("CheckIPKey(X-Other) = %q, %v", h, err)
	}
	if h, err := CheckIPKey("X-MIMEDefang-Relay-1"); h != "X-MIMEDefang-Relay-1" || err != nil {
		t.Errorf("CheckIPKey = %q, %v", h, err)
	}
}

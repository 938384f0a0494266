package luafilter

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

// TestARCBinding: md_arc_sign from Lua: the three fields of a sealed
// message as a table, cv= from our Authentication-Results with chain "ar",
// {error = details} for a skipped message, nil (logged) without a key, a
// chain or a domain, or with an algorithm Mail::DKIM refuses.
func TestARCBinding(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "arc.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), 0o600); err != nil {
		t.Fatal(err)
	}
	msg := "Authentication-Results: mx.test (MIMEDefang); arc=pass; spf=pass smtp.mailfrom=sender@example.com\n" + plainMsg
	runBindingCase(t, bindingCase{name: "md_arc_sign", msg: msg,
		src: `local key = "` + keyFile + `"
function unfold(s) return (string.gsub(s, "\n\t", "")) end
function filter_end(e)
  local h = md_arc_sign(key, nil, "none", "example.com", "mx.test", "sel")
  local n = 0
  for _ in pairs(h) do n = n + 1 end
  H("arc", n .. " " .. tostring(string.find(unfold(h["ARC-Seal"]), "i=1; a=rsa-sha256; cv=none; d=example.com; s=sel; t=", 1, true)) ..
    " " .. tostring(string.find(unfold(h["ARC-Message-Signature"]), "i=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; h=from:to:subject:message-id; s=sel; bh=", 1, true)) ..
    " " .. h["ARC-Authentication-Results"])
  local a = md_arc_sign(key, "rsa-sha256", "ar", "example.com", "mx.test", "")
  H("ar", tostring(a.error) .. " " .. tostring(string.find(unfold(a["ARC-Seal"]), "cv=pass; d=example.com; s=unknown;", 1, true)))
  H("skip", md_arc_sign(key, nil, "pass", "example.com").error) -- srvid: the domain
  H("nokey", tostring(md_arc_sign("/nonexistent/key.pem", nil, "none", "example.com")))
  H("nochain", tostring(md_arc_sign(key, nil, nil, "example.com")))
  H("nodomain", tostring(md_arc_sign(key, nil, "none")))
  H("sha1", tostring(md_arc_sign(key, "rsa-sha1", "none", "example.com")))
end`,
		lines: encodedValues([]string{
			"HX-arc 3 1 1 i=1; mx.test; arc=pass; spf=pass smtp.mailfrom=sender@example.com",
			"HX-ar nil 20",
			"HX-skip No authentication results seen",
			"HX-nokey nil", "HX-nochain nil", "HX-nodomain nil", "HX-sha1 nil",
		}),
		syslogLog: []string{
			"Could not open private ARC key in md_arc_sign: No such file or directory",
			"Could not ARC sign a message without specifying a chain",
			"Could not ARC sign a message without specifying a domain",
			"md_arc_sign: Invalid signing algorithm",
		},
	})
}

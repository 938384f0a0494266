package integration

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The helpers of the DNS and sender-authentication tests.

// zoneHead is the start of a test zone: TTL, SOA, NS, and the name
// server's address (origin without its final dot).
func zoneHead(origin string) string {
	return "$TTL 300\n@ IN SOA ns." + origin + ". hostmaster." + origin + ". 1 3600 600 86400 300\n@ IN NS ns." + origin + ".\nns IN A 127.0.0.1\n"
}

// requirePerlModules fails the test, naming the Debian packages, when Perl
// cannot load one of mods.
func requirePerlModules(t *testing.T, packages string, mods ...string) {
	t.Helper()
	for _, mod := range mods {
		if out, err := exec.Command("perl", "-M"+mod, "-e", "1").CombinedOutput(); err != nil {
			t.Fatalf("Perl's %s is needed (%v: %s): apt-get install -y %s", mod, err, out, packages)
		}
	}
}

// writeRSAKey makes an RSA key of bits, writes it as dir/name.pem (PKCS#1)
// and returns the file, the key, and its DKIM key record as TXT strings.
func writeRSAKey(t *testing.T, dir, name string, bits int) (string, *rsa.PrivateKey, string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), 0o644); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return path, k, txtStrings("v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der))
}

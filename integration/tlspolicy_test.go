package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/integration/internal/harness"
)

// TestTLSPolicyAgainstNSD: md_check_mta_sts reads the _mta-sts record from a
// real NSD and the policy from an HTTPS server of the test's own (the
// policy host resolved through the same NSD, its certificate trusted through
// SSL_CERT_FILE), md_verify_sts_mx checks hosts against it, and
// md_check_dane_tlsa / md_verify_dane_cert match the server's certificate
// against TLSA records, all through md-worker test.
func TestTLSPolicyAgainstNSD(t *testing.T) {
	dir := harness.NewTestDir(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "mta-sts.sts.test"},
		DNSNames:  []string{"mta-sts.sts.test", "mx.sts.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "mta-sts.sts.test" || r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "version: STSv1\nmode: enforce\nmx: mx.sts.test\nmx: *.backup.sts.test\nmax_age: 604800\n")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.StartTLS()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	full := sha256.Sum256(der)
	spki := sha512.Sum512(cert.RawSubjectPublicKeyInfo)
	zone := zoneHead("sts.test") + `_mta-sts IN TXT "v=STSv1; id=20261206T000000;"
mta-sts IN A 127.0.0.1
_25._tcp.mx IN TLSA 3 0 1 ` + hex.EncodeToString(full[:]) + `
_25._tcp.mx IN TLSA 3 1 2 ` + hex.EncodeToString(spki[:]) + `
_25._tcp.other IN TLSA 3 0 1 ` + strings.Repeat("ab", 32) + "\n"
	ns := harness.StartNSD(t, harness.NSDOptions{Dir: dir, Zones: map[string]string{"sts.test.": zone}})
	t.Setenv("MD_DNS_SERVERS", ns.Addr)
	t.Setenv("SSL_CERT_FILE", caFile)

	var luaDER strings.Builder
	for _, b := range der {
		fmt.Fprintf(&luaDER, "\\%d", b)
	}
	filter := filepath.Join(dir, "tls.lua")
	src := `local der = "` + luaDER.String() + `"
function filter_begin(e)
  local p = md_check_mta_sts("sts.test", {port = ` + port + `, timeout = 5})
  action_add_header("X-STS", p.id .. " " .. p.mode .. " " .. p.max_age .. " " .. table.concat(p.mx, ",") .. " " ..
    md_verify_sts_mx("mx.sts.test", p) .. md_verify_sts_mx("a.backup.sts.test", p) .. md_verify_sts_mx("evil.test", p) .. " " ..
    tostring(md_check_mta_sts("other.test", {port = ` + port + `})))
  local t = md_check_dane_tlsa("mx.sts.test", 25)
  local o = md_check_dane_tlsa("other.sts.test", 25)
  action_add_header("X-DANE", #t .. " " .. t[1].usage .. t[1].selector .. t[1].matching_type .. " " ..
    md_verify_dane_cert(der, t) .. md_verify_dane_cert(der, o) .. " " .. #md_check_dane_tlsa("none.sts.test", 25))
end
`
	if err := os.WriteFile(filter, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	msg := &harness.Message{From: "tester@" + harness.Domain, To: "alice@" + harness.Domain, Subject: "tls policy", Body: "hello\n"}
	r := runMDWorkerTest(t, dir, filter, msg)
	for _, want := range []string{
		"X-STS: 20261206T000000 enforce 604800 mx.sts.test,*.backup.sts.test 110 nil\n",
		"X-DANE: 2 301 10 0\n",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("md-worker test does not print %q:\n%s\n%s", want, r.out, r.log)
		}
	}
}

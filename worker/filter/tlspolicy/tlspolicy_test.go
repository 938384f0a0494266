package tlspolicy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mdgo/md/worker/filter/dnscheck"
	"github.com/mdgo/md/worker/filter/dnscheck/dnstest"
)

// selfSigned makes a certificate for names, its own authority.
func selfSigned(t *testing.T, names ...string) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, cert
}

// TestCheckMTASTS: the TXT record, then the policy over HTTPS from the
// host the resolver names, verified against the test's authority.
func TestCheckMTASTS(t *testing.T) {
	tlsCert, cert := selfSigned(t, "mta-sts.sts.test", "mta-sts.bad.test", "mta-sts.none.test")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path != "/.well-known/mta-sts.txt":
			http.NotFound(w, r)
		case r.Host == "mta-sts.sts.test":
			w.Write([]byte("version: STSv1\r\nmode: Enforce\r\nmx: mail.sts.test\r\nmx: *.backup.sts.test.\r\nmax_age: 86400\r\n"))
		case r.Host == "mta-sts.bad.test":
			w.Write([]byte("version: STSv2\nmode: enforce\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{tlsCert}}
	srv.StartTLS()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	zs := dnstest.Start(t,
		`_mta-sts.sts.test. TXT "v=STSv1; id=20240101T000000 "`,
		`mta-sts.sts.test. A 127.0.0.1`,
		`_mta-sts.bad.test. TXT "v=STSv1; id=1"`,
		`mta-sts.bad.test. A 127.0.0.1`,
		`_mta-sts.none.test. TXT "v=STSv1; id=2"`,
		`mta-sts.none.test. A 127.0.0.1`,
		`_mta-sts.notsts.test. TXT "v=spf1 -all"`,
	)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	p, _ := strconv.Atoi(port)
	var logged []string
	cfg := Config{
		Resolver: dnscheck.New(dnscheck.Config{Servers: []string{zs.Addr}, Timeout: time.Second}),
		Port:     p, RootCAs: roots, Timeout: 5 * time.Second,
		Log: func(pr, m string) { logged = append(logged, pr+": "+m) },
	}
	pol, ok := CheckMTASTS(context.Background(), cfg, "sts.test")
	if !ok || pol.ID != "20240101T000000" || pol.Mode != "enforce" || pol.MaxAge != 86400 || !slices.Equal(pol.MX, []string{"mail.sts.test", "*.backup.sts.test."}) {
		t.Errorf("policy %+v %v (log %q)", pol, ok, logged)
	}
	for _, d := range []string{"bad.test", "none.test", "notsts.test", "nothing.test"} {
		if pol, ok := CheckMTASTS(context.Background(), cfg, d); ok {
			t.Errorf("%s: %+v", d, pol)
		}
	}
	// An untrusted certificate is a failed fetch, logged.
	logged = nil
	cfg.RootCAs = x509.NewCertPool()
	if _, ok := CheckMTASTS(context.Background(), cfg, "sts.test"); ok || len(logged) != 1 {
		t.Errorf("untrusted certificate: %v, log %q", ok, logged)
	}
}

func TestVerifySTSMX(t *testing.T) {
	mx := []string{"mail.example.com", "*.backup.example.com."}
	for host, want := range map[string]bool{
		"mail.example.com": true, "MAIL.example.com.": true, "a.backup.example.com": true,
		"a.b.backup.example.com": false, "backup.example.com": false, "other.example.com": false,
	} {
		if got := VerifySTSMX(host, mx); got != want {
			t.Errorf("md_verify_sts_mx(%s) = %v, want %v", host, got, want)
		}
	}
}

func TestVerifyDANECert(t *testing.T) {
	_, cert := selfSigned(t, "mx.example.com")
	spki := cert.RawSubjectPublicKeyInfo
	s256 := sha256.Sum256(cert.Raw)
	k512 := sha512.Sum512(spki)
	for name, c := range map[string]struct {
		recs []TLSA
		want bool
	}{
		"3 0 1":         {[]TLSA{{3, 0, 1, hex.EncodeToString(s256[:])}}, true},
		"3 1 2":         {[]TLSA{{3, 1, 2, hex.EncodeToString(k512[:])}}, true},
		"3 1 0":         {[]TLSA{{3, 1, 0, hex.EncodeToString(spki)}}, true},
		"upper case":    {[]TLSA{{3, 0, 1, hex.EncodeToString(s256[:])[:10] + "ABCDEF"}}, false},
		"wrong digest":  {[]TLSA{{3, 0, 1, "00"}}, false},
		"second of two": {[]TLSA{{3, 0, 1, "00"}, {2, 0, 1, hex.EncodeToString(s256[:])}}, true},
		"none":          {nil, false},
	} {
		if got := VerifyDANECert(cert.Raw, c.recs); got != c.want {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
}

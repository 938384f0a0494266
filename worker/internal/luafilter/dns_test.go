package luafilter

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdgo/md/worker/filter/dnscheck"
	"github.com/mdgo/md/worker/filter/dnscheck/dnstest"
)

// TestDNSBindings: the DNS functions from Lua, against a stand-in name
// server named by $MD_DNS_SERVERS.
func TestDNSBindings(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &rsaKey.PublicKey, rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	certSum := sha256.Sum256(certDER)
	var luaDER strings.Builder // the certificate as a Lua string literal
	for _, b := range certDER {
		fmt.Fprintf(&luaDER, "\\%d", b)
	}
	zs := dnstest.Start(t,
		`_25._tcp.mx.example.com. TLSA 3 0 1 `+hex.EncodeToString(certSum[:]),
		`sel._domainkey.example.com. TXT "v=DKIM1; k=rsa; p=`+base64.StdEncoding.EncodeToString(pub)+`"`,
		"2.0.0.127.dnsbl.test. A 127.0.0.2",
		"2.0.0.127.other.test. A 127.0.0.3",
		"example.test. MX 10 mx1.example.test.",
		"example.test. MX 20 mx2.example.test.",
		"mx1.example.test. A 192.0.2.10",
		"mx2.example.test. A 10.0.0.5",
		"10.2.0.192.in-addr.arpa. PTR mx1.example.test.",
		`_dmarc.example.test. TXT "v=DMARC1; p=reject"`,
		`example.test. TXT "unrelated"`,
		`example.test. TXT "v=spf1 " "-all"`,
		`spf.test. TXT "v=spf1 ip4:192.0.2.0/24 -all"`,
		`example.com. TXT "v=spf1 ip4:192.0.2.0/24 -all"`,
		`_dmarc.example.com. TXT "v=DMARC1; p=reject"`,
		`default._bimi.example.com. TXT "v=BIMI1; l=https://example.com/logo.svg; a=https://example.com/vmc.pem"`,
	)
	t.Setenv(dnscheck.EnvServers, zs.Addr)
	for _, tc := range []bindingCase{
		{name: "relay_is_blacklisted", msg: plainMsg,
			src: `function filter_begin(e)
  H("listed", relay_is_blacklisted("127.0.0.2", "dnsbl.test") .. " " .. relay_is_blacklisted("127.0.0.9", "dnsbl.test"))
  H("email", email_is_blacklisted("a@b", "dnsbl.test", "md5") .. " " .. email_is_blacklisted("a@b", "dnsbl.test", "sha256"))
  local m = relay_is_blacklisted_multi("127.0.0.2", 2, 0, {"dnsbl.test", "none.test", "servfail.test", "other.test"})
  H("multi", m["dnsbl.test"][1] .. " " .. m["none.test"] .. " " .. m["servfail.test"] .. " " .. m["other.test"][1])
  H("count", relay_is_blacklisted_multi_count("127.0.0.2", 2, 0, {"dnsbl.test", "none.test", "other.test"}))
  H("list", table.concat(relay_is_blacklisted_multi_list("127.0.0.2", 2, 0, {"dnsbl.test", "none.test", "other.test"}), ","))
end`,
			lines:     []string{"HX-listed 127.0.0.2%200", "HX-email 0%200", "HX-multi 127.0.0.2%20NXDOMAIN%20SERVFAIL%20127.0.0.3", "HX-count 2", "HX-list dnsbl.test,other.test"},
			syslogLog: []string{"Invalid or unsupported hash type in email_is_blacklisted call"},
		},
		{name: "get_mx_ip_addresses", msg: plainMsg,
			src: `function filter_begin(e)
  H("mx", table.concat(get_mx_ip_addresses("example.test"), ","))
  H("bogus", table.concat(md_get_bogus_mx_hosts("example.test"), ","))
  H("ptr", get_ptr_record("192.0.2.10") .. " " .. tostring(get_ptr_record("192.0.2.11")))
  H("dmarc", md_get_dmarc_record("mail.example.test") .. "|" .. tostring(md_get_dmarc_record("none.test")))
  H("txt", md_dns_txt(nil, "example.test", "^v=spf1") .. "|" .. md_dns_txt(nil, "example.test"))
end`,
			lines: []string{"HX-mx 192.0.2.10,10.0.0.5", "HX-bogus 10.0.0.5", "HX-ptr mx1.example.test%20nil",
				"HX-dmarc v=DMARC1;%20p=reject|nil", "HX-txt v=spf1%20-all|unrelated"},
		},
		{name: "md_spf_verify", msg: plainMsg,
			src: `function filter_begin(e)
  local code, expl, hcode, hexpl, rec, hrec = md_spf_verify("<a+x@spf.test>", "192.0.2.7", "spf.test")
  H("spf", code .. " " .. hcode .. " " .. rec .. "|" .. hrec .. "|" .. expl)
  local c2, e2, h2, he2, r2 = md_spf_verify("a@example.test", "192.0.2.7")
  H("spf2", c2 .. " " .. tostring(h2) .. " " .. r2)
  H("spf3", table.concat({md_spf_verify("", "192.0.2.7")}, "|"))
  local t = md_spf_verify("a@spf.test", "198.51.100.9", "spf.test", true)
  H("spf4", t.code .. " " .. t.helo_code .. " " .. t.record .. " " .. tostring(string.find(t.local_explanation, "spf.test: ", 1, true)))
  local t2 = md_spf_verify("a@example.test", "192.0.2.7", nil, true)
  H("spf5", t2.code .. " " .. tostring(t2.helo_code) .. " " .. t2.record)
end`,
			lines: []string{"HX-spf pass%20pass%20v=spf1%20ip4:192.0.2.0/24%20-all|v=spf1%20ip4:192.0.2.0/24%20-all|spf.test:%20Sender%20192.0.2.7%20is%20authorized%20to%20use%20%27a@spf.test%27%20in%20%27mfrom%27%20identity%20(matched%20ip)",
				"HX-spf2 fail%20nil%20v=spf1%20-all", "HX-spf3 invalid|Invalid%20mail%20from%20parameter",
				"HX-spf4 fail%20fail%20v=spf1%20ip4:192.0.2.0/24%20-all%201", "HX-spf5 fail%20nil%20v=spf1%20-all"},
		},
		{name: "md_dkim_sign", msg: plainMsg,
			src: `function filter_end(e)
  local n, v = md_dkim_sign("` + keyFile + `", "rsa-sha256", "relaxed", "example.com", "sel")
  H("sign", n .. " " .. tostring(string.find(v, "v=1; a=rsa-sha256; c=relaxed; d=example.com; h=", 1, true)))
  local n2, v2 = md_dkim_sign("` + keyFile + `", "rsa-sha256", nil, nil, nil, nil, false)
  H("nowrap", tostring(string.find(v2, "\n")) .. " " .. tostring(string.find(v2, "c=relaxed/simple; d=example.org;", 1, true) ~= nil))
  H("nokey", select("#", md_dkim_sign("/nonexistent/key.pem")))
  local r, d, k, b = md_dkim_verify()
  H("verify", r .. " " .. tostring(d) .. " " .. k)
end`,
			lines:     []string{"HX-sign DKIM-Signature%201", "HX-nowrap nil%20true", "HX-nokey 0", "HX-verify none%20nil%200"},
			syslogLog: []string{"Could not open private DKIM key in md_dkim_sign: No such file or directory"},
		},
		{name: "md_authres", msg: plainMsg,
			src: `function filter_begin(e)
  H("org", md_org_domain("a.b.example.co.uk") .. " " .. md_org_domain("mail.example.com"))
  H("sel", md_bimi_get_selector(e) .. " " .. md_bimi_get_selector())
  local b = md_bimi_lookup("example.com")
  H("bimi", b.version .. " " .. b.l .. " " .. b.a .. " " .. tostring(md_bimi_lookup("none.test")))
  H("bimiv", md_bimi_verify("example.com", "pass", "reject") .. " " .. md_bimi_verify("example.com", "pass", "none"))
  local ar = md_authres("sender@example.com", "192.0.2.7", "mx.test", "", "example.com")
  H("authres", tostring(ar == "mx.test (MIMEDefang);\n\tspf=pass (domain of sender@example.com designates 192.0.2.7 as permitted sender) smtp.mailfrom=sender@example.com;\n\tbimi=pass header.d=example.com;"))
end`,
			lines: []string{"HX-org example.co.uk%20example.com", "HX-sel default%20default",
				"HX-bimi BIMI1%20https://example.com/logo.svg%20https://example.com/vmc.pem%20nil", "HX-bimiv pass%20fail", "HX-authres true"},
		},
		{name: "md_check_dane_tlsa", msg: plainMsg,
			src: `function filter_begin(e)
  local t = md_check_dane_tlsa("mx.example.com", 25)
  H("tlsa", #t .. " " .. t[1].usage .. t[1].selector .. t[1].matching_type .. " " .. tostring(t[1].cert_data == "` + hex.EncodeToString(certSum[:]) + `"))
  H("none", #md_check_dane_tlsa("none.example.com", 25))
  local der = "` + luaDER.String() + `"
  H("dane", md_verify_dane_cert(der, t) .. md_verify_dane_cert("x", t) .. md_verify_dane_cert(der, {}))
  H("sts", tostring(md_check_mta_sts("example.com")) .. " " ..
    md_verify_sts_mx("a.mx.example.com", {mx = {"*.mx.example.com"}}) .. md_verify_sts_mx("mx.example.com", {mx = {"*.mx.example.com"}}))
end`,
			lines: []string{"HX-tlsa 1%20301%20true", "HX-none 0", "HX-dane 100", "HX-sts nil%2010"},
		},
		{name: "add_ip_validation_header", msg: plainMsg,
			src: `function filter_end(e)
  H("none", tostring(add_ip_validation_header()) .. " " .. tostring(delete_ip_validation_header()))
end`,
			lines:     []string{"HX-none false%20false"},
			syslogLog: []string{"add_ip_validation_header called, but no validation header available.  Check permissions on /etc/mimedefang-ip-key"},
		},
		{name: "add_ip_validation_header with a key", msg: plainMsg,
			src: `ValidateIPHeader = "X-MIMEDefang-Relay-0123"
function filter_end(e)
  H("set", tostring(add_ip_validation_header()) .. " " .. tostring(delete_ip_validation_header()))
end`,
			lines: []string{"HX-set true%20true", "HX-MIMEDefang-Relay-0123 192.0.2.1"},
		},
		{name: "reverse_ip_address_for_rbl", msg: plainMsg,
			src: `function filter_end(e)
  H("rev", reverse_ip_address_for_rbl("192.0.2.1") .. " " .. expand_ipv6_address("2001:db8::1"))
  H("public", is_public_ip4_address("8.8.8.8") .. is_public_ip4_address("10.0.0.1") .. is_public_ip6_address("fd00::1") .. is_public_ip6_address("2001:db8::1"))
end`,
			lines: []string{"HX-rev 1.2.0.192%202001:0db8:0000:0000:0000:0000:0000:0001", "HX-public 1001"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) { runBindingCase(t, tc) })
	}
}

// TestDNSServersGlobal: DNSServers and DNSTimeout, set by the filter, win
// over $MD_DNS_SERVERS.
func TestDNSServersGlobal(t *testing.T) {
	zs := dnstest.Start(t, "2.0.0.127.dnsbl.test. A 127.0.0.2")
	t.Setenv(dnscheck.EnvServers, "127.0.0.1:1")
	runBindingCase(t, bindingCase{name: "DNSServers", msg: plainMsg,
		src: `DNSServers = "` + zs.Addr + `"
DNSTimeout = 2
function filter_begin(e)
  H("listed", relay_is_blacklisted("127.0.0.2", "dnsbl.test") .. " " .. DNSServers .. " " .. DNSTimeout)
end`,
		lines: []string{"HX-listed 127.0.0.2%20" + zs.Addr + "%202"},
	})
}

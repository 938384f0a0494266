package authres

import "testing"

func TestOrgDomain(t *testing.T) {
	for in, want := range map[string]string{
		"mail.example.com":      "example.com",
		"Example.COM":           "example.com",
		"a.b.c.example.co.uk":   "example.co.uk", // the original says co.uk
		"example.co.uk":         "example.co.uk",
		"co.uk":                 "co.uk",
		"localhost":             "localhost",
		"":                      "",
		"mail.example.com.":     "example.com",
		"x.y.example.com.au":    "example.com.au",
		"host.s3.amazonaws.com": "host.s3.amazonaws.com",
	} {
		if got := OrgDomain(in); got != want {
			t.Errorf("md_org_domain(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFormat: the original's field, line by line.
func TestFormat(t *testing.T) {
	in := Inputs{
		ServerDomain: "mx.example.net",
		DKIMResult:   "pass", DKIMDomain: "example.com", DKIMB: "abcdefghijklmnop", DKIMKeySize: 2048, DKIMHasKey: true,
		SPFCode: "pass", HasSPF: true, HeloSPFCode: "none", HasHeloSPF: true,
		Email: "a@example.com", RelayIP: "192.0.2.7", Helo: "mail.example.com",
		BIMIDomain: "example.com", BIMIResult: "pass",
	}
	want := "mx.example.net (MIMEDefang);" +
		"\n\tdkim=pass (2048-bit key) header.d=example.com header.b=abcdefgh;" +
		"\n\tspf=pass (domain of a@example.com designates 192.0.2.7 as permitted sender) smtp.mailfrom=a@example.com;" +
		"\n\tspf=none (domain of mail.example.com doesn't specify if 192.0.2.7 is a permitted sender) smtp.helo=mail.example.com;" +
		"\n\tbimi=pass header.d=example.com;"
	if got, ok := Format(in); !ok || got != want {
		t.Errorf("Format =\n%q\nwant\n%q", got, want)
	}
	// No key, an SPF result the original does not describe: only the
	// server's name.
	in = Inputs{ServerDomain: "mx", SPFCode: "softfail", HasSPF: true, Email: "a@b", RelayIP: "192.0.2.1"}
	if got, ok := Format(in); !ok || got != "mx (MIMEDefang);" {
		t.Errorf("softfail: %q %v", got, ok)
	}
	in.SPFCode = "fail"
	if got, _ := Format(in); got != "mx (MIMEDefang);\n\tspf=fail (domain of a@b does not designate 192.0.2.1 as permitted sender) smtp.mailfrom=a@b;" {
		t.Errorf("fail: %q", got)
	}
	if _, ok := Format(Inputs{ServerDomain: "mx"}); ok {
		t.Error("nothing to report gave a field")
	}
}

func TestDMARCPolicy(t *testing.T) {
	for rec, want := range map[string]string{
		"v=DMARC1; p=reject":              "reject",
		"v=DMARC1; sp=none; p=Quarantine": "quarantine",
		"v=DMARC1":                        "none",
		"":                                "none",
	} {
		if got := DMARCPolicy(rec); got != want {
			t.Errorf("DMARCPolicy(%q) = %q, want %q", rec, got, want)
		}
	}
}

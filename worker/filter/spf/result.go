package spf

// Result is md_spf_verify's result.
type Result struct {
	// Code is Mail::SPF's: "pass", "fail", "softfail", "neutral", "none",
	// "permerror", "temperror", or "invalid" for an empty sender.
	Code        string
	Explanation string // "<domain>: <why>"
	// The HELO check, when a HELO name was given.
	HasHelo                   bool
	HeloCode, HeloExplanation string
	// DNSLookups and HeloDNSLookups are the DNS-interactive terms each
	// check evaluated (Mail::SPF's dns_interactive_terms_count).
	DNSLookups, HeloDNSLookups int
	// The SPF records of the sender's domain and of the HELO name.
	Record, HeloRecord       string
	HasRecord, HasHeloRecord bool
}

// Values is the original's list: (code, explanation, helo_code,
// helo_explanation, record[, helo_record]), undef where there is no value;
// only (code, explanation) for an invalid sender.
func (r Result) Values() []any {
	if r.Code == "invalid" {
		return []any{r.Code, r.Explanation}
	}
	out := []any{r.Code, r.Explanation, nil, nil, nil}
	if r.HasRecord {
		out[4] = r.Record
	}
	if r.HasHelo {
		out[2], out[3] = r.HeloCode, r.HeloExplanation
		var hr any
		if r.HasHeloRecord {
			hr = r.HeloRecord
		}
		out = append(out, hr)
	}
	return out
}

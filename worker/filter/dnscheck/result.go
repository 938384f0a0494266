package dnscheck

// ListedResult is a blocklist lookup's result: the address listed, or ""
// when not listed.
type ListedResult struct {
	Addr string
}

// Values is the original's return value: the address, or 0.
func (r ListedResult) Values() []any {
	if r.Addr == "" {
		return []any{0}
	}
	return []any{r.Addr}
}

// Listed reports whether the lookup found a listing.
func (r ListedResult) Listed() bool { return r.Addr != "" }

// MultiOutcome is one blocklist's answer in RelayIsBlacklistedMulti: Code
// "SERVFAIL" or "NXDOMAIN", or the addresses listed (Code "").
type MultiOutcome struct {
	Code  string
	Addrs []string
}

// MultiResult is relay_is_blacklisted_multi's hash: each domain's outcome.
type MultiResult struct {
	Domains []string // as asked, in order
	Outcome map[string]MultiOutcome
}

// Count is relay_is_blacklisted_multi_count: how many lists listed the
// address.
func (m MultiResult) Count() int { return len(m.List()) }

// List is relay_is_blacklisted_multi_list: the lists that listed the
// address, in the order they were asked (the original's order is Perl's
// hash order).
func (m MultiResult) List() []string {
	var out []string
	for _, d := range m.Domains {
		if len(m.Outcome[d].Addrs) > 0 {
			out = append(out, d)
		}
	}
	return out
}

package rspamd

// Result is rspamd_check's return list.
type Result struct {
	// OK is false when the check failed: the Result is then SoftReject's.
	OK bool
	// Hits is rspamd's score, Required its required_score.
	Hits, Required float64
	// Tests is "NAME (score), NAME (score)", the symbols rspamd matched,
	// sorted by name (the original's follow Perl's hash order).
	Tests string
	// Report is rspamd's JSON answer as it came.
	Report string
	// Action is rspamd's action ("no action", "add header", "rewrite
	// subject", "greylist", "soft reject", "reject"); "soft reject" on
	// failure.
	Action string
	// IsSpam is "true" when Hits >= Required, else "false", as the
	// original's strings.
	IsSpam string
}

// SoftReject is the original's result when rspamd cannot be asked:
// (0, 0, "", "", "soft reject", "false").
func SoftReject() Result {
	return Result{Action: "soft reject", IsSpam: "false"}
}

// Values is (hits, required, tests, report, action, is_spam).
func (r Result) Values() []any {
	return []any{r.Hits, r.Required, r.Tests, r.Report, r.Action, r.IsSpam}
}

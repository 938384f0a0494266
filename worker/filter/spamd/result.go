package spamd

import "strings"

// Result is what a spamd check found: the values of the original's
// md_spamc_check ($score, $threshold, $report, $isspam) and of
// spam_assassin_check ($hits, $required, $tests, $report).
type Result struct {
	// OK is false when the check failed (no connection, a timeout, an
	// error status, a reply without a Spam header): the original then
	// returns an empty list, and the other fields are zero.
	OK bool
	// Score is the message's score ($hits), Threshold the score from
	// which spamd calls it spam ($required).
	Score, Threshold float64
	// IsSpam is spamd's verdict, Spam its word for it ("True" or
	// "False", md_spamc_check's $isspam).
	IsSpam bool
	Spam   string
	// Tests are the names of the rules that hit (SYMBOLS), for
	// spam_assassin_check; nil for md_spamc_check, which returns none.
	Tests []string
	// Report is spamd's REPORT body: the report template with the rules
	// that hit and their scores.
	Report string
}

// TestNames is $tests of spam_assassin_check: the rule names joined with
// commas, as get_names_of_tests_hit returns them.
func (r Result) TestNames() string { return strings.Join(r.Tests, ",") }

// Values is md_spamc_check's return list: (score, threshold, report,
// isspam), or an empty list when the check failed.
func (r Result) Values() []any {
	if !r.OK {
		return nil
	}
	return []any{r.Score, r.Threshold, r.Report, r.Spam}
}

// CheckValues is spam_assassin_check's return list: (hits, required,
// tests, report), or an empty list when the check failed.
func (r Result) CheckValues() []any {
	if !r.OK {
		return nil
	}
	return []any{r.Score, r.Threshold, r.TestNames(), r.Report}
}

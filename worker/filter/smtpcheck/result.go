package smtpcheck

// The verdicts of a Result: the $retval of the original, and the verdicts
// a filter_recipient callback returns.
const (
	Continue = "CONTINUE" // a 1xx, 2xx or 3xx reply
	TempFail = "TEMPFAIL" // a 4xx reply, an odd code, no reply, no connection
	Reject   = "REJECT"   // a 5xx reply, or a verification loop
)

// Result is what md_check_against_smtp_server returns: ($retval, $text,
// $code, $dsn). Verdict is Continue, TempFail or Reject. Code and DSN are
// "" when the original returns only two values (a connection that could
// not be made); DSN is also "" when the server's reply had none.
type Result struct {
	Verdict string
	Text    string
	Code    string
	DSN     string
}

// Values is the original's return list, which the Lua binding returns:
// (verdict, text) when the connection failed (Code and DSN both ""),
// else (verdict, text, code, dsn). Codes stay strings, as in Perl.
func (r Result) Values() []any {
	if r.Code == "" && r.DSN == "" {
		return []any{r.Verdict, r.Text}
	}
	return []any{r.Verdict, r.Text, r.Code, r.DSN}
}

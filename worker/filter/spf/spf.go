package spf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"

	"blitiri.com.ar/go/spf"
)

// plusTag is the original's /(.*)\+(?:.*)\@(.*)/: a +tag of the local part
// is dropped (the last '+' before the last '@', as Perl's greedy match).
var plusTag = regexp.MustCompile(`^(.*)\+(?:.*)@(.*)$`)

// Verify is md_spf_verify($email, $relayip [, $helo]). email may carry
// angle brackets; its +tag is dropped; an address without '@' is checked
// as postmaster@<it> (as Mail::SPF does). An empty email gives ("invalid",
// "Invalid mail from parameter"). helo "" skips the HELO check.
func Verify(ctx context.Context, cfg Config, email, relayIP, helo string) Result {
	cfg = cfg.withDefaults()
	email = strings.TrimSuffix(strings.TrimPrefix(email, "<"), ">")
	if email == "" {
		return Result{Code: "invalid", Explanation: "Invalid mail from parameter"}
	}
	if m := plusTag.FindStringSubmatch(email); m != nil {
		email = m[1] + "@" + m[2]
	}
	res := Result{}
	res.Code, res.Explanation, res.DNSLookups = check(ctx, cfg, "mfrom", email, relayIP, helo)
	domain := email
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		domain = email[i+1:]
	}
	if cfg.TXT != nil {
		res.Record, res.HasRecord = cfg.TXT(domain)
	}
	if helo != "" {
		res.HasHelo = true
		res.HeloCode, res.HeloExplanation, res.HeloDNSLookups = check(ctx, cfg, "helo", helo, relayIP, helo)
		if cfg.TXT != nil {
			res.HeloRecord, res.HasHeloRecord = cfg.TXT(helo)
		}
	}
	return res
}

// check runs one check_host() and words its outcome as Mail::SPF's local
// explanation does: "<domain>: <why>".
func check(ctx context.Context, cfg Config, scope, identity, relayIP, helo string) (code, explanation string, terms int) {
	ip := net.ParseIP(relayIP)
	sender := identity
	if !strings.Contains(sender, "@") {
		sender = "postmaster@" + sender
	}
	domain := sender[strings.LastIndexByte(sender, '@')+1:]
	if ip == nil {
		cfg.Log("Warning", fmt.Sprintf("md_spf_verify: Invalid IP address %q", relayIP))
		return "permerror", domain + ": Invalid IP address '" + relayIP + "'", 0
	}
	counted := newCounter(cfg.Lookup)
	opts := []spf.Option{spf.WithContext(ctx), spf.OverrideLookupLimit(cfg.MaxLookups), spf.WithResolver(counted)}
	r, err := spf.CheckHostWithSender(ip, helo, sender, opts...)
	terms = counted.Terms()
	if errors.Is(err, spf.ErrLookupLimitReached) {
		terms++ // Mail::SPF counts the term that went over the limit
	}
	return string(r), domain + ": " + why(r, err, scope, sender, ip), terms
}

// why is a result's reason in words.
func why(r spf.Result, err error, scope, sender string, ip net.IP) string {
	var derr *net.DNSError
	switch {
	case errors.Is(err, spf.ErrNoResult):
		return "No applicable sender policy available"
	case r == spf.TempError && errors.As(err, &derr) && derr.IsTimeout:
		return "Time-out on DNS lookup"
	case r == spf.TempError:
		return "Temporary DNS error: " + errText(err)
	case r == spf.PermError:
		return "Permanent error: " + errText(err)
	case r == spf.Neutral && err == nil:
		return "Default neutral result due to no mechanism matches"
	case r == spf.Pass:
		return fmt.Sprintf("Sender %s is authorized to use '%s' in '%s' identity (%s)", ip, sender, scope, errText(err))
	}
	return fmt.Sprintf("Sender %s is not authorized to use '%s' in '%s' identity (%s)", ip, sender, scope, errText(err))
}

func errText(err error) string {
	if err == nil {
		return "no mechanism matched"
	}
	return err.Error()
}

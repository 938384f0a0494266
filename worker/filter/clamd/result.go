package clamd

import (
	"regexp"
)

// The categories of a Result ($category), with the codes and actions the
// original pairs them with.
const (
	OK            = "ok"             // (0, ok, ok): clean
	Virus         = "virus"          // (1, virus, quarantine): VirusName is set
	SoftwareError = "swerr"          // (999, swerr, tempfail): clamd answered an error, or garbage
	CannotExecute = "cannot-execute" // (999, cannot-execute, tempfail): no connection, no PONG, a timeout
)

// Result is what the original's virus-scanner functions return:
// ($code, $category, $action), with what they leave in $VirusName and
// $VirusScannerMessages.
type Result struct {
	Code     int    // $code: 0 clean, 1 virus, 999 failure (or a scanner's exit code)
	Category string // $category: OK, Virus, SoftwareError, CannotExecute
	Action   string // $action: "ok", "quarantine" or "tempfail"
	// VirusName is the name clamd reported, for $VirusName; "" unless
	// Category is Virus.
	VirusName string
	// Messages is the text the call appends to $VirusScannerMessages:
	// "clamd found the <name> virus.\n" for a virus found by clamd.
	Messages string
	// Detail is the text of clamd's error reply ("<detail> ERROR"), for
	// the caller's fallback to clamscan (IsZipFailure).
	Detail string
}

// Values is the original's return list, which the Lua binding returns:
// (code, category, action).
func (r Result) Values() []any { return []any{r.Code, r.Category, r.Action} }

func okResult() Result { return Result{Code: 0, Category: OK, Action: "ok"} }

func virusResult(name string) Result {
	return Result{Code: 1, Category: Virus, Action: "quarantine", VirusName: name,
		Messages: "clamd found the " + name + " virus.\n"}
}

func swerrResult(detail string) Result {
	return Result{Code: 999, Category: SoftwareError, Action: "tempfail", Detail: detail}
}

func cannotExecuteResult() Result {
	return Result{Code: 999, Category: CannotExecute, Action: "tempfail"}
}

// UnknownClamavVirus is the $VirusName interpret_clamav_code sets when the
// scanner's output names no virus and $VirusName is empty.
const UnknownClamavVirus = "unknown-Clamav-virus"

// InterpretClamavCode is interpret_clamav_code($code) for the exit status
// of clamscan or clamdscan: 0 gives (0, ok, ok); 1 gives (1, virus,
// quarantine) with VirusName taken from output ($CurrentVirusScannerMessage,
// its first ": <name> FOUND"), else virusName (the current $VirusName),
// else UnknownClamavVirus; any other code gives (code, swerr, tempfail).
// Messages stays "": run_virus_scanner has already added the output to
// $VirusScannerMessages.
func InterpretClamavCode(code int, output, virusName string) Result {
	switch code {
	case 0:
		return okResult()
	case 1:
		if m := foundRE.FindStringSubmatch(output); m != nil {
			virusName = m[1]
		}
		if virusName == "" {
			virusName = UnknownClamavVirus
		}
		return Result{Code: 1, Category: Virus, Action: "quarantine", VirusName: virusName}
	}
	return Result{Code: code, Category: SoftwareError, Action: "tempfail"}
}

// zipFailureRE is the original's test for a clamd error that clamscan may
// get past: /(?:zip module failure|not supported data format)/i.
var zipFailureRE = regexp.MustCompile(`(?i)zip module failure|not supported data format`)

// IsZipFailure reports whether detail (Result.Detail) is an error for
// which the original falls back on clamscan when $Features{'Virus:CLAMAV'}
// is set.
func IsZipFailure(detail string) bool { return zipFailureRE.MatchString(detail) }

// ClamdscanArgs is the argument list the original gives clamdscan
// ($Features{'Virus:CLAMDSCAN'}) with clamdscan's configuration conf
// ($Features{'Path:CLAMDCONF'}) for target (a body file, or ./Work):
// -c conf --no-summary --infected --fdpass --stream target. With both
// --fdpass and --stream, clamdscan streams the bytes (INSTREAM).
func ClamdscanArgs(conf, target string) []string {
	return []string{"-c", conf, "--no-summary", "--infected", "--fdpass", "--stream", target}
}

// ClamscanArgs is the argument list the original gives clamscan
// ($Features{'Virus:CLAMAV'}): --stdout --no-summary --infected target,
// after -r when recursive (for ./Work).
func ClamscanArgs(recursive bool, target string) []string {
	args := []string{"--stdout", "--no-summary", "--infected", target}
	if recursive {
		args = append([]string{"-r"}, args...)
	}
	return args
}

// ClamscanFallbackArgs is the argument list of the original's fallback on
// clamscan after a zip failure in clamd (IsZipFailure): -r --unzip --unrar
// --stdout --no-summary --infected work. ClamAV 0.9x's clamscan took the
// two archive options; later versions refuse them and exit with 2 (a
// swerr), as the original then does.
func ClamscanFallbackArgs(work string) []string {
	return []string{"-r", "--unzip", "--unrar", "--stdout", "--no-summary", "--infected", work}
}

package rspamd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// reply is the part of rspamd's /checkv2 answer rspamd_check reads.
type reply struct {
	Score         *float64 `json:"score"`
	RequiredScore *float64 `json:"required_score"`
	Action        *string  `json:"action"`
	Symbols       map[string]struct {
		Name  string   `json:"name"`
		Score *float64 `json:"score"`
	} `json:"symbols"`
	Error string `json:"error"`
}

// ParseReply reads rspamd's JSON answer into rspamd_check's values. An
// error means the body is not a usable answer: not a JSON object, an
// "error" field (rspamd's answer to a request it could not scan), no
// numeric score or required_score, no action.
func ParseReply(body []byte) (Result, error) {
	var rp reply
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&rp); err != nil {
		return Result{}, fmt.Errorf("not JSON: %v (%q)", err, truncate(string(body)))
	}
	switch {
	case rp.Error != "":
		return Result{}, fmt.Errorf("rspamd error %q", truncate(rp.Error))
	case rp.Score == nil || rp.RequiredScore == nil || rp.Action == nil:
		return Result{}, fmt.Errorf("no score, required_score or action in %q", truncate(string(body)))
	case !finite(*rp.Score) || !finite(*rp.RequiredScore):
		return Result{}, errors.New("score out of range")
	}
	names := make([]string, 0, len(rp.Symbols))
	for k := range rp.Symbols {
		names = append(names, k)
	}
	sort.Strings(names)
	tests := make([]string, 0, len(names))
	for _, k := range names {
		s := rp.Symbols[k]
		name := s.Name
		if name == "" {
			name = k
		}
		score := 0.0
		if s.Score != nil {
			score = *s.Score
		}
		tests = append(tests, name+" ("+perlNumber(score)+")")
	}
	r := Result{OK: true, Hits: *rp.Score, Required: *rp.RequiredScore, Tests: strings.Join(tests, ", "),
		Report: string(body), Action: *rp.Action, IsSpam: "false"}
	if r.Hits >= r.Required {
		r.IsSpam = "true"
	}
	return r, nil
}

// perlNumber formats f as Perl prints a number (%.15g).
func perlNumber(f float64) string { return strconv.FormatFloat(f, 'g', 15, 64) }

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

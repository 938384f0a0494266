package spool

import (
	"sync"
	"time"
)

// IDAlphabet is the 60-character alphabet of the MIMEDefang ID, in digit
// order (docs/reference/protocol.md §13.2, gen_id.c).
const IDAlphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX"

// IDLen is the length of a MIMEDefang ID.
const IDLen = 7

const (
	idBase     = 60
	idTimeSpan = idBase * idBase * idBase * idBase * idBase // 60^5 s, about 24.6 years
)

// FormatID returns the MIMEDefang ID for a Unix time and a counter value, as
// gen_mx_id computes it: characters 0-4 are the time, converted to a 32-bit
// unsigned int as C does and taken mod 60^5, in base 60 with the most
// significant digit first; character 5 is (counter/60)%60 and character 6 is
// counter%60.
//
// FormatID(1795546516, 0) is "iwGTg00" (2026-11-24 18:55:16 UTC, the first
// message after start-up).
func FormatID(unix int64, counter uint32) string {
	var b [IDLen]byte
	t := uint32(unix) % idTimeSpan
	for i := 4; i >= 0; i-- {
		b[i] = IDAlphabet[t%idBase]
		t /= idBase
	}
	b[6] = IDAlphabet[counter%idBase]
	b[5] = IDAlphabet[(counter/idBase)%idBase]
	return string(b[:])
}

// IDGen generates MIMEDefang IDs. Its counter starts at 0 and is incremented
// on every call, as the process-wide counter of the original; an IDGen is safe
// for concurrent use. IDs are unique only within a second and 3600 calls, as
// in the original; a clash shows up as a failed directory creation.
//
// The zero value is ready to use.
type IDGen struct {
	// Now is the clock. Nil means time.Now; tests set it.
	Now func() time.Time

	mu      sync.Mutex
	counter uint32
}

// Next returns the next ID.
func (g *IDGen) Next() string {
	g.mu.Lock()
	c := g.counter
	g.counter++
	g.mu.Unlock()
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	return FormatID(now().Unix(), c)
}

var processIDs IDGen

// NewID returns the next ID of the process-wide generator, the equivalent of
// gen_mx_id.
func NewID() string { return processIDs.Next() }

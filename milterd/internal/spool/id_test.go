package spool

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFormatID(t *testing.T) {
	const t16 = 1795546516 // 2026-11-24 18:55:16 UTC
	tests := []struct {
		unix    int64
		counter uint32
		want    string
	}{
		// The golden directories: clean, then reject and exe of the same
		// milter process one second later; clean-allchecks from a new one.
		{t16, 0, "iwGTg00"},
		{t16 + 1, 1, "iwGTh01"},
		{t16 + 1, 2, "iwGTh02"},
		{t16 + 12, 0, "iwGTs00"},

		{0, 0, "0000000"},
		{59, 59, "0000X0X"},
		{60, 60, "0001010"},
		{idTimeSpan - 1, 3599, "XXXXXXX"},
		{idTimeSpan, 3600, "0000000"},      // both parts wrap
		{1<<32 + 61, 0, "0001100"},         // time is cast to a 32-bit unsigned int first
		{-1, 0, FormatID(1<<32-1, 0)},      // as (unsigned int) time(NULL) would
		{t16, 1<<32 - 1, "iwGTg" + "sf"},   // 4294967295 % 3600 = 1695 = 28*60+15: s, f
		{t16, 3600*7 + 61, "iwGTg" + "11"}, // only counter mod 3600 shows
		{t16, 1234, "iwGTg" + string(IDAlphabet[20]) + string(IDAlphabet[34])},
	}
	for _, tt := range tests {
		if got := FormatID(tt.unix, tt.counter); got != tt.want {
			t.Errorf("FormatID(%d, %d) = %q, want %q", tt.unix, tt.counter, got, tt.want)
		}
	}
	if len(IDAlphabet) != 60 {
		t.Fatalf("alphabet has %d characters", len(IDAlphabet))
	}
}

func validID(id string) bool {
	if len(id) != IDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if strings.IndexByte(IDAlphabet, id[i]) < 0 {
			return false
		}
	}
	return true
}

func TestIDGenFixedClock(t *testing.T) {
	g := IDGen{Now: func() time.Time { return time.Date(2026, 11, 24, 18, 55, 16, 0, time.UTC) }}
	for i, want := range []string{"iwGTg00", "iwGTg01", "iwGTg02"} {
		if got := g.Next(); got != want {
			t.Errorf("call %d: %q, want %q", i, got, want)
		}
	}
}

// Within one second the counter is the only source of uniqueness: 3600
// concurrent calls give 3600 distinct IDs, and the 3601st repeats the first,
// as in the original.
func TestIDGenUniqueConcurrent(t *testing.T) {
	g := IDGen{Now: func() time.Time { return time.Unix(1795546516, 0) }}
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 36 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				id := g.Next()
				mu.Lock()
				if seen[id] {
					t.Errorf("duplicate ID %q", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 3600 {
		t.Fatalf("%d distinct IDs, want 3600", len(seen))
	}
	if id := g.Next(); id != "iwGTg00" {
		t.Errorf("call 3601 = %q, want the counter wrapped to iwGTg00", id)
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 3000 {
		id := NewID()
		if !validID(id) {
			t.Fatalf("bad ID %q", id)
		}
		if seen[id] {
			t.Fatalf("duplicate ID %q", id)
		}
		seen[id] = true
	}
}

package mux

import "testing"

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		line string
		want cmdType
	}{
		{"scan QID /dir\n", cmdScan},
		{"relayok 1.2.3.4 h 1 2 3 Q\n", cmdRelayok},
		{"senderok <a@b> ...\n", cmdSenderok},
		{"recipok <a@b> ...\n", cmdRecipok},
		{"helook 1.2.3.4 ...\n", cmdOther}, // helook is not tracked (§14 item 16)
		{"scanner x\n", cmdOther},
		{"scan", cmdOther},
		{"ping\n", cmdOther},
	} {
		if got := classify(tc.line); got != tc.want {
			t.Errorf("classify(%q) = %v, want %v", tc.line, got, tc.want)
		}
	}
}

func TestHistoryWindows(t *testing.T) {
	var h history
	now := int64(1_000_000)
	h.record(cmdScan, now-700, 9, 900) // outside every window
	h.record(cmdScan, now-400, 2, 40)  // 10 min only
	h.record(cmdScan, now-100, 3, 30)  // 5 and 10 min
	h.record(cmdScan, now-30, 1, 10)   // 1, 5, 10 min
	h.record(cmdScan, now, 4, 20)      // every window
	h.record(cmdRelayok, now, 1, 1)
	h.activated(now)
	for _, tc := range []struct {
		back              int64
		count, workers, m int64
	}{
		{10, 1, 4, 20}, {60, 2, 5, 30}, {300, 3, 8, 60}, {600, 4, 10, 100},
	} {
		got := h.window(cmdScan, now, tc.back)
		if got.count != tc.count || got.workers != tc.workers || got.ms != tc.m {
			t.Errorf("window(%d) = %+v, want count=%d workers=%d ms=%d", tc.back, got, tc.count, tc.workers, tc.m)
		}
	}
	if got := h.window(cmdScan, now, 10).activated; got != 1 {
		t.Errorf("activated = %d, want 1", got)
	}
	if got := h.window(cmdRelayok, now, 600).count; got != 1 {
		t.Errorf("relayok count = %d, want 1", got)
	}
	// A bucket reused 600 s later must not keep its old counts.
	h.record(cmdScan, now+600, 1, 1)
	if got := h.window(cmdScan, now+600, 10).count; got != 1 {
		t.Errorf("reused bucket count = %d, want 1", got)
	}
}

func TestHourWindow(t *testing.T) {
	var h history
	base := int64(3600 * 1000)
	h.record(cmdScan, base+10, 2, 100)
	h.record(cmdScan, base+20, 2, 100)
	h.record(cmdScan, base-3600*2+5, 1, 50) // two hours earlier
	s, span := h.hourWindow(cmdScan, base+30, 1)
	if s.count != 2 || span != 10 {
		t.Errorf("1h: count=%d span=%d, want 2 and 10", s.count, span)
	}
	s, span = h.hourWindow(cmdScan, base+30, 4)
	if s.count != 3 || span != 20+3600*2-5 {
		t.Errorf("4h: count=%d span=%d", s.count, span)
	}
}

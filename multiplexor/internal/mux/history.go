package mux

// cmdType is the multiplexor's classification of a request by its raw prefix
// (cmd_to_number). Only the first four are counted in the load history.
type cmdType int

const (
	cmdScan cmdType = iota
	cmdRelayok
	cmdSenderok
	cmdRecipok
	cmdOther
	cmdNone    cmdType = -1 // no command yet / not tracked
	numTracked         = 4
)

var cmdNames = [numTracked]string{"scan", "relayok", "senderok", "recipok"}

func (t cmdType) String() string {
	if t >= 0 && t < numTracked {
		return cmdNames[t]
	}
	if t == cmdOther {
		return "other"
	}
	return "none"
}

// classify returns the command type of a raw request line.
func classify(line string) cmdType {
	for t, n := range cmdNames {
		if len(line) > len(n) && line[:len(n)] == n && line[len(n)] == ' ' {
			return cmdType(t)
		}
	}
	return cmdOther
}

const (
	historySecs  = 600
	historyHours = 24
)

type secBucket struct {
	sec                int64
	count, workers, ms int64
	activated, reaped  int64
}

type hourBucket struct {
	hour               int64
	count, workers, ms int64
	first, last        int64
}

// history is the load history of §7.14: 600 one-second buckets and 24
// one-hour buckets per tracked command type.
type history struct {
	secs  [numTracked][historySecs]secBucket
	hours [numTracked][historyHours]hourBucket
}

func (h *history) sec(t cmdType, now int64) *secBucket {
	b := &h.secs[t][now%historySecs]
	if b.sec != now {
		*b = secBucket{sec: now}
	}
	return b
}

func (h *history) hour(t cmdType, now int64) *hourBucket {
	hr := now / 3600
	b := &h.hours[t][hr%historyHours]
	if b.hour != hr {
		*b = hourBucket{hour: hr, first: now}
	}
	return b
}

// record adds one completed command: busy is the number of Busy workers at
// that moment (the replying one included), ms the time since dispatch.
func (h *history) record(t cmdType, now, busy, ms int64) {
	if t < 0 || t >= numTracked {
		return
	}
	b := h.sec(t, now)
	b.count++
	b.workers += busy
	b.ms += ms
	hb := h.hour(t, now)
	hb.count++
	hb.workers += busy
	hb.ms += ms
	hb.last = now
}

func (h *history) activated(now int64) { h.sec(cmdScan, now).activated++ }
func (h *history) reaped(now int64)    { h.sec(cmdScan, now).reaped++ }

type totals struct{ count, workers, ms, activated, reaped int64 }

// window sums the buckets from now-back+1 to now.
func (h *history) window(t cmdType, now, back int64) totals {
	var s totals
	for i := range h.secs[t] {
		b := &h.secs[t][i]
		if b.sec > now-back && b.sec <= now {
			s.count += b.count
			s.workers += b.workers
			s.ms += b.ms
			s.activated += b.activated
			s.reaped += b.reaped
		}
	}
	return s
}

// hourWindow sums the current clock hour and the previous hours-1 hours; span
// is the seconds between the first and last sample in that window.
func (h *history) hourWindow(t cmdType, now, hours int64) (s totals, span int64) {
	cur := now / 3600
	var first, last int64 = -1, -1
	for i := range h.hours[t] {
		b := &h.hours[t][i]
		if b.count == 0 || b.hour > cur || b.hour <= cur-hours {
			continue
		}
		s.count += b.count
		s.workers += b.workers
		s.ms += b.ms
		if first < 0 || b.first < first {
			first = b.first
		}
		if b.last > last {
			last = b.last
		}
	}
	if first >= 0 {
		span = last - first
	}
	return s, span
}

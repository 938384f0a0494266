package mux

import (
	"fmt"
	"strconv"
	"time"
)

// tickLoop runs tick type t every -X seconds (§7.11): at most one tick of a
// type is outstanding, and a tick that finds no free worker is skipped.
func (s *Server) tickLoop(stop chan struct{}, t int) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(s.cfg.TickInterval):
		}
		s.mu.Lock()
		if s.shuttingDown {
			s.mu.Unlock()
			return
		}
		w, failed := s.findFreeWorkerLocked(cmdOther)
		if w == nil {
			s.mu.Unlock()
			why := "no free workers"
			if failed {
				why = "could not activate worker"
			}
			s.log.Infof("Tick %d skipped -- %s", t, why)
			continue
		}
		s.run(w, "tick "+strconv.Itoa(t)+"\n", cmdOther) // reply ignored
	}
}

// Autoscaling constants of mimedefang-multiplexor 3.7 (§7.13).
const (
	autoscaleInterval = 15 * time.Second
	autoscaleOutAbove = 0.80
	autoscaleInBelow  = 0.30
	autoscaleOutCool  = 5 * time.Second
	autoscaleInCool   = 30 * time.Second
	autoscaleAlpha    = 0.25
)

type autoscaleState struct {
	ema             float64
	lastOut, lastIn time.Time
}

func (s *Server) autoscaleTick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	c := s.countLocked()
	ratio := 0.0
	if c.running() > 0 {
		ratio = float64(c.busy) / float64(c.running())
	}
	s.as.ema = s.as.ema*(1-autoscaleAlpha) + ratio*autoscaleAlpha
	switch {
	case s.as.ema > autoscaleOutAbove && c.running() < s.cfg.MaxWorkers && now.Sub(s.as.lastOut) > autoscaleOutCool:
		for _, w := range s.workers {
			if w.state == stateStopped {
				s.activateLocked(w, "Autoscale")
				break
			}
		}
	case s.as.ema < autoscaleInBelow && c.running() > s.cfg.MinWorkers &&
		now.Sub(s.as.lastIn) > autoscaleInCool && now.Sub(s.as.lastOut) > autoscaleInCool:
		for _, w := range s.workers {
			if w.state == stateIdle {
				s.killLocked(w, "Autoscale scale-in")
				s.as.lastIn = now
				s.log.Infof("Autoscale: scaled in to %d workers (ema_busy=%.2f)", s.countLocked().running()-s.countLocked().killed, s.as.ema)
				break
			}
		}
	}
}

func (s *Server) autoscaleReply() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	enabled := 0
	if s.cfg.Autoscale {
		enabled = 1
	}
	return fmt.Sprintf("enabled=%d interval=%d ema_busy=%.4f scale_out=%.2f scale_in=%.2f out_cool=%d in_cool=%d ema_alpha=%.4f\n",
		enabled, int(autoscaleInterval/time.Second), s.as.ema, autoscaleOutAbove, autoscaleInBelow,
		int(autoscaleOutCool/time.Second), int(autoscaleInCool/time.Second), autoscaleAlpha)
}

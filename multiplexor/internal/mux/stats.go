package mux

import (
	"bufio"
	"fmt"
	"os"
	"sync"
	"time"
)

// statsLog writes the -t stats file and the -T syslog copies (§12.3):
//
//	DD/MM/YYYY:HH:MM:SS <epoch>.<ms> <Event> worker=<n> nworkers=<running> nbusy=<busy>[ <extra>]
type statsLog struct {
	mu     sync.Mutex
	path   string
	f      *os.File
	w      *bufio.Writer
	flush  bool
	syslog bool
	log    *Logger
}

func (l *statsLog) open(path string, flush, toSyslog bool, log *Logger) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.path, l.flush, l.syslog, l.log = path, flush, toSyslog, log
	return l.openLocked()
}

func (l *statsLog) openLocked() error {
	if l.path == "" {
		return nil
	}
	// The original's fopen(path, "a"): 0666 under the multiplexor's file
	// umask (Run), 0600, or 0640 with -G. 0640 keeps it from being
	// world-readable under a looser umask too.
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("mux: opening stats file: %w", err)
	}
	l.f, l.w = f, bufio.NewWriter(f)
	return nil
}

// reopen closes and reopens the stats file (SIGHUP), for log rotation.
func (l *statsLog) reopen() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closeLocked()
	if err := l.openLocked(); err != nil && l.log != nil {
		l.log.Errorf("%v", err)
	}
}

func (l *statsLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closeLocked()
}

func (l *statsLog) closeLocked() {
	if l.f != nil {
		l.w.Flush()
		l.f.Close()
		l.f, l.w = nil, nil
	}
}

// event records one stats line; called with Server.mu held.
func (l *statsLog) event(s *Server, name string, slot int, extra string) {
	if l == nil || (l.path == "" && !l.syslog) {
		return
	}
	now := s.now()
	c := s.countLocked()
	line := fmt.Sprintf("%s %d.%03d %s worker=%d nworkers=%d nbusy=%d", now.Format("02/01/2006:15:04:05"),
		now.Unix(), now.Nanosecond()/int(time.Millisecond), name, slot, c.running(), c.busy)
	if extra != "" {
		line += " " + extra
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w != nil {
		l.w.WriteString(line + "\n")
		if l.flush {
			l.w.Flush()
		}
	}
	if l.syslog && l.log != nil {
		l.log.Infof("stats %s", line[20:])
	}
}

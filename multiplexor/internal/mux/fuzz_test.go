package mux

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// FuzzControlCommand feeds arbitrary lines to the unprivileged control
// command handler of a server that was never started. Nothing a client sends
// may panic it, start a worker, or produce a reply that is not one or more
// "\n"-terminated lines (the bare version string excepted).
func FuzzControlCommand(f *testing.F) {
	for _, seed := range []string{
		"help", "free", "version", "tick", "tick 0", "status", "slaves", "workers",
		"busyslaves", "busyworkers", "load", "load-relayok", "load-senderok", "load-recipok",
		"load1 60", "load1 9", "load1 601", "load1 ", "load1 -5", "load1 99999999999999999999",
		"hload", "hload-recipok", "histo", "msgs", "workerinfo 0", "workerinfo 3", "workerinfo 4",
		"workerinfo -1", "workerinfo x", "workerinfo ", "slaveinfo  +2", "slaveinfo 99999999999999999999",
		"foo_no_such_command", "reread", "autoscale", "scan NOQUEUE /tmp", "ping", "\x00toolong", "",
		"\r", "status\r", "workers\x00", strings.Repeat("x", 5000),
	} {
		f.Add(seed)
	}
	cfg := DefaultConfig()
	cfg.SpoolDir = f.TempDir()
	cfg.WorkerProgram = "/bin/true"
	cfg.MaxWorkers = 4
	cfg.QueueSize = 8
	s, err := New(cfg, nil)
	if err != nil {
		f.Fatal(err)
	}
	// Some bookkeeping to report on, without any process behind it.
	s.workers[1].state, s.workers[1].pid, s.workers[1].lastCmd = stateIdle, 4242, cmdScan
	s.workers[2].state, s.workers[2].pid, s.workers[2].curCmd, s.workers[2].tag = stateBusy, 4343, cmdRecipok, "recipok <a@b>"
	s.msgs, s.activations = 7, 2

	f.Fuzz(func(t *testing.T, cmd string) {
		reply := s.Command(cmd, false)
		switch {
		case cmd == "version":
			if reply != Version {
				t.Fatalf("version: %q", reply)
			}
		case reply == "":
			if cmd != "busyworkers" && cmd != "busyslaves" {
				t.Fatalf("%q: empty reply", cmd)
			}
		case !strings.HasSuffix(reply, "\n"):
			t.Fatalf("%q: reply %q does not end in a newline", cmd, reply)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.activations != 2 || s.generation != 0 || len(s.queue) != 0 {
			t.Fatalf("%q on the unprivileged socket changed the pool: activations %d, generation %d, queued %d",
				cmd, s.activations, s.generation, len(s.queue))
		}
		for _, w := range s.workers {
			if w.proc != nil {
				t.Fatalf("%q on the unprivileged socket started worker %d", cmd, w.slot)
			}
		}
	})
}

// FuzzReadNetstring reads SOCKETMAP netstrings from arbitrary bytes: no
// panic, no payload over 65536 bytes, and any payload written as a netstring
// reads back unchanged.
func FuzzReadNetstring(f *testing.F) {
	for _, seed := range []string{
		"5:hello,", "0:,", "3:abc;", "3:ab", "", ":", ",", "5:he", "-1:,", "+3:abc,", " 3 :abc,",
		"abc:", "1234567890123456:", "99999999999999999999:x,", "65536:", "65537:x,",
		"2:ab,3:cde,", "10:virtuser a,7:aliases,", "3:a\x00b,", "0x3:abc,",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		for i := 0; i <= len(data); i++ {
			p, err := readNetstring(r)
			if err != nil {
				break
			}
			if len(p) > 65536 {
				t.Fatalf("payload of %d bytes from %q", len(p), data)
			}
		}
		if len(data) > 65536 {
			return
		}
		ns := fmt.Sprintf("%d:%s,", len(data), data)
		p, err := readNetstring(bufio.NewReader(strings.NewReader(ns)))
		if err != nil || p != string(data) {
			t.Fatalf("round trip of %q: got %q, %v", data, p, err)
		}
	})
}

package mux

import (
	"bytes"
	"net"
	"os"
	"strconv"
	"syscall"

	"github.com/mdgo/md/proto"
)

// The integration-call channel (proto.CallsFDEnv): when metrics are served,
// one Unix datagram socket pair for all workers; each worker gets one end as
// an extra descriptor and sends a line per question it puts to clamd,
// spamd, rspamd ... (proto.AppendCall), without waiting. readCalls turns the lines into the
// integration_* metrics. Counting here rather than in each worker keeps the
// counts across worker recycling, and a worker never waits on the pipe.

// maxIntegrations bounds the integration label's values: a worker (a
// compiled Go filter can write anything) cannot blow up the metrics.
const maxIntegrations = 32

// openCalls creates the socket pair and the environment workers are
// started with. Without metrics, a $MD_CALLS_FD the multiplexor inherited is
// emptied so that no worker writes into a descriptor it did not get.
func (s *Server) openCalls() error {
	if s.cfg.MetricsListen == "" {
		if os.Getenv(proto.CallsFDEnv) != "" {
			s.workerEnv = append(os.Environ(), proto.CallsFDEnv+"=")
		}
		return nil
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	rf := os.NewFile(uintptr(fds[0]), "calls")
	conn, err := net.FileConn(rf) // a duplicate, served by the poller
	rf.Close()
	if err != nil {
		syscall.Close(fds[1])
		return err
	}
	s.callsR, s.callsW = conn, os.NewFile(uintptr(fds[1]), "calls-workers")
	go s.readCalls(conn)
	return nil
}

// closeCalls closes the socket pair once the workers are gone.
func (s *Server) closeCalls() {
	if s.callsW != nil {
		s.callsW.Close()
		s.callsR.Close()
	}
}

// callsFiles returns the extra files and the environment of a worker
// whose extra descriptors start with have (the -Z status pipe, fd 3).
func (s *Server) callsFiles(have []*os.File) ([]*os.File, []string) {
	if s.callsW == nil {
		return have, s.workerEnv
	}
	fd := 3 + len(have)
	return append(have, s.callsW), append(os.Environ(), proto.CallsFDEnv+"="+strconv.Itoa(fd))
}

// readCalls counts each call datagram until the socket is closed. A
// datagram longer than a call line arrives cut short and is rejected.
func (s *Server) readCalls(conn net.Conn) {
	buf := make([]byte, proto.CallLineMax+1)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return
		}
		if bytes.HasPrefix(buf[:n], []byte("dns ")) {
			if q, perr := proto.ParseDNSQuery(buf[:n]); perr != nil || !s.metrics.dnsQuery(q) {
				s.metrics.callRejected()
			}
			continue
		}
		if c, perr := proto.ParseCall(buf[:n]); perr != nil || !s.metrics.call(c) {
			s.metrics.callRejected()
		}
	}
}

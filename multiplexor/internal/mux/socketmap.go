package mux

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/mdgo/md/proto"
)

// serveMap answers Sendmail SOCKETMAP netstring requests on a persistent
// connection (-N, §10.1). Each "<mapname> <key>" becomes a worker request
// "map <pct name> <pct key>"; the worker's "<CODE> <pct value>" line is
// decoded and sent back as a netstring.
func (s *Server) serveMap(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	for {
		payload, err := readNetstring(r)
		var reply string
		switch {
		case err == errNoComma:
			reply = "PERM Netstring missing terminating comma"
		case err != nil:
			if err != io.EOF {
				s.log.Infof("SOCKETMAP: %v; closing connection", err)
			}
			return
		default:
			reply = s.mapRequest(payload)
		}
		conn.SetWriteDeadline(time.Now().Add(s.cfg.ClientTimeout))
		if _, err := fmt.Fprintf(conn, "%d:%s,", len(reply), reply); err != nil {
			return
		}
	}
}

// errNoComma is a netstring whose terminator is not ','.
var errNoComma = fmt.Errorf("mux: netstring missing terminating comma")

// readNetstring reads "<len>:<payload>," with len 0..65536. A missing comma
// is errNoComma, which the caller answers with PERM and carries on, as the
// original does.
func readNetstring(r *bufio.Reader) (string, error) {
	var lenBuf []byte
	for {
		b, err := r.ReadByte()
		if err != nil {
			return "", err
		}
		if b == ':' {
			break
		}
		lenBuf = append(lenBuf, b)
		if len(lenBuf) > 15 {
			return "", fmt.Errorf("mux: netstring length prefix too long")
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(lenBuf)))
	if err != nil || n < 0 || n > 65536 {
		return "", fmt.Errorf("mux: bad netstring length %q", lenBuf)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", err
	}
	if buf[n] != ',' {
		return "", errNoComma
	}
	return string(buf[:n]), nil
}

func (s *Server) mapRequest(payload string) string {
	name, key, ok := strings.Cut(payload, " ")
	if !ok {
		return "PERM Invalid request format"
	}
	line := "map " + proto.Encode(name) + " " + proto.Encode(key) + "\n"
	s.mu.Lock()
	w, failed := s.findFreeWorkerLocked(cmdOther)
	if w == nil {
		s.mu.Unlock()
		if failed {
			return "TEMP Unable to activate worker"
		}
		return "TEMP No free workers"
	}
	reply := s.run(w, line, cmdOther)
	switch {
	case reply == replyTalkError:
		return "TEMP Error talking to worker process"
	case reply == replyNoResponse || reply == replyTimeout || reply == replyTimeoutLoaded || !strings.HasSuffix(reply, "\n"):
		return "TEMP Busy timeout on worker"
	}
	return proto.Decode(strings.TrimSuffix(reply, "\n"))
}

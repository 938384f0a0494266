package mux

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

func isInetSpec(spec string) bool {
	for _, p := range []string{"inet:", "inet_any:", "inet6:", "inet6_any:"} {
		if strings.HasPrefix(spec, p) {
			return true
		}
	}
	return false
}

// parseSocketSpec turns a socket specification of the original
// (utils.c: make_listening_socket) into a network and an address:
// /path, unix:/path, local:/path, inet:port (127.0.0.1), inet_any:port
// (0.0.0.0), inet6:port (::1), inet6_any:port (::).
func parseSocketSpec(spec string) (network, addr string, err error) {
	for _, p := range []string{"unix:", "local:"} {
		if rest, ok := strings.CutPrefix(spec, p); ok {
			spec = rest
		}
	}
	if strings.HasPrefix(spec, "/") {
		return "unix", spec, nil
	}
	hosts := map[string]string{"inet": "127.0.0.1", "inet_any": "0.0.0.0", "inet6": "::1", "inet6_any": "::"}
	kind, port, ok := strings.Cut(spec, ":")
	host, known := hosts[kind]
	if !ok || !known {
		return "", "", fmt.Errorf("mux: bad socket specification %q (want /path, unix:/path, inet:port, inet_any:port, inet6:port or inet6_any:port)", spec)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("mux: bad port in socket specification %q (want 1-65535)", spec)
	}
	network = "tcp4"
	if strings.HasPrefix(kind, "inet6") {
		network = "tcp6"
	}
	return network, net.JoinHostPort(host, port), nil
}

// listenSpec opens a listening socket from a specification, removing an old
// UNIX socket file first, with the given umask in force while it is created.
func listenSpec(spec string, umask int) (net.Listener, error) {
	network, addr, err := parseSocketSpec(spec)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		if err := os.Remove(addr); err != nil && !os.IsNotExist(err) {
			return nil, fmt.Errorf("mux: removing old socket %s: %w", addr, err)
		}
		old := unix.Umask(umask)
		defer unix.Umask(old)
		l, err := net.Listen("unix", addr)
		if err != nil {
			return nil, fmt.Errorf("mux: listen on %s: %w", addr, err)
		}
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		return l, nil
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("mux: listen on %s: %w", spec, err)
	}
	return l, nil
}

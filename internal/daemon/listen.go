package daemon

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// MinBacklog is the smallest listen backlog (-b) the original milter
// accepts (docs/reference/protocol.md §11.1: values below 5 become 5).
const MinBacklog = 5

// ParseConn turns a milter socket specification, libmilter's
// (smfi_setconn) and so the -p option's of mimedefang and md-milterd,
// into a network and an address for Listen or net.Listen: /path,
// unix:/path, local:/path; inet:port@host (tcp4) and inet6:port@host
// (tcp6), where host may be a name or an address and an empty or missing
// @host means every address. The errors name -p.
func ParseConn(conn string) (network, addr string, err error) {
	switch {
	case strings.HasPrefix(conn, "/"):
		return "unix", conn, nil
	case strings.HasPrefix(conn, "unix:"):
		return "unix", strings.TrimPrefix(conn, "unix:"), nil
	case strings.HasPrefix(conn, "local:"):
		return "unix", strings.TrimPrefix(conn, "local:"), nil
	case strings.HasPrefix(conn, "inet:"), strings.HasPrefix(conn, "inet6:"):
		network = "tcp4"
		if strings.HasPrefix(conn, "inet6:") {
			network = "tcp6"
		}
		rest := conn[strings.IndexByte(conn, ':')+1:]
		port, host, _ := strings.Cut(rest, "@")
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return "", "", fmt.Errorf("bad port in -p %q", conn)
		}
		return network, net.JoinHostPort(host, port), nil
	}
	return "", "", fmt.Errorf("unsupported -p socket %q", conn)
}

// Listen opens a listening socket of a parsed specification (ParseConn).
// With backlog 0 (no -b) it is net.Listen, whose backlog is the kernel's
// somaxconn, as the original's default (libmilter's SOMAXCONN, capped by
// the kernel) is. Otherwise (MinBacklog at least) it creates, binds and
// listens on the socket itself, since net.Listen cannot take a backlog,
// and hands it to the net package. The caller removes an old UNIX socket
// and sets the umask.
func Listen(network, addr string, backlog int) (net.Listener, error) {
	if backlog == 0 {
		return net.Listen(network, addr)
	}
	backlog = max(backlog, MinBacklog)
	var (
		family int
		sa     unix.Sockaddr
	)
	switch network {
	case "unix":
		family, sa = unix.AF_UNIX, &unix.SockaddrUnix{Name: addr}
	case "tcp4", "tcp6":
		ta, err := net.ResolveTCPAddr(network, addr)
		if err != nil {
			return nil, err
		}
		if network == "tcp4" {
			s := &unix.SockaddrInet4{Port: ta.Port}
			if ta.IP != nil {
				copy(s.Addr[:], ta.IP.To4())
			}
			family, sa = unix.AF_INET, s
		} else {
			s := &unix.SockaddrInet6{Port: ta.Port}
			copy(s.Addr[:], ta.IP.To16()) // nil: the unspecified address
			if ta.Zone != "" {
				if ifi, err := net.InterfaceByName(ta.Zone); err == nil {
					s.ZoneId = uint32(ifi.Index)
				}
			}
			family, sa = unix.AF_INET6, s
		}
	default:
		return nil, fmt.Errorf("unsupported network %q", network)
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	// What net.Listen sets on a TCP listener.
	if family != unix.AF_UNIX {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	}
	if err == nil && family == unix.AF_INET6 {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
	}
	if err == nil {
		err = os.NewSyscallError("bind", unix.Bind(fd, sa))
	}
	if err == nil {
		err = os.NewSyscallError("listen", unix.Listen(fd, backlog))
	}
	if err != nil {
		unix.Close(fd)
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	f := os.NewFile(uintptr(fd), addr)
	defer f.Close() // FileListener holds a duplicate
	return net.FileListener(f)
}

package mxctrl

import (
	"fmt"
	"math"
	"strings"
	"syscall"
	"testing"
)

// TestCscan checks sscanf(s, "%lf %d") and sscanf(s, "%d %d") against what
// glibc 2.36 returned for the same strings (values printed with %.17g).
func TestCscan(t *testing.T) {
	tests := []struct {
		in    string
		verbs string
		want  string // "n=<count> a b"
	}{
		{"1e 5", "fd", "n=2 1 5"},
		{"1e5 7", "fd", "n=2 100000 7"},
		{"1.5e+ 3", "fd", "n=2 1.5 3"},
		{"1e+x 6", "fd", "n=1 1 0"},
		{"1e- 1", "fd", "n=2 1 1"},
		{"inf 2", "fd", "n=2 +Inf 2"},
		{"infinity 2", "fd", "n=2 +Inf 2"},
		{"INFINITY 3", "fd", "n=2 +Inf 3"},
		{"infx 3", "fd", "n=1 +Inf 0"},
		{"infi 3", "fd", "n=0 0 0"},
		{"infin 3", "fd", "n=0 0 0"},
		{"in 4", "fd", "n=0 0 0"},
		{"-inf 3", "fd", "n=2 -Inf 3"},
		{"NaN 3", "fd", "n=2 NaN 3"},
		{"nanx 3", "fd", "n=1 NaN 0"},
		{"nan(abc) 3", "fd", "n=1 NaN 0"},
		{"na 3", "fd", "n=0 0 0"},
		{"0x1p3 5", "fd", "n=2 8 5"},
		{"0X1P-1 1", "fd", "n=2 0.5 1"},
		{"0x1p 1", "fd", "n=2 1 1"},
		{"0x1.8p+ 1", "fd", "n=2 1.5 1"},
		{"0x.8 1", "fd", "n=2 0.5 1"},
		{"0x1.p1 3", "fd", "n=2 2 3"},
		{"0x1g 1", "fd", "n=1 1 0"},
		{"0x 5", "fd", "n=0 0 0"},
		{"0xp3 1", "fd", "n=0 0 0"},
		{"+.5 6", "fd", "n=2 0.5 6"},
		{"5. 1", "fd", "n=2 5 1"},
		{".e5 7", "fd", "n=0 0 0"},
		{". 1", "fd", "n=0 0 0"},
		{"-. 1", "fd", "n=0 0 0"},
		{"+ 1", "fd", "n=0 0 0"},
		{"1.2.3 8", "fd", "n=1 1.2 0"},
		{"1e400 1", "fd", "n=2 +Inf 1"},
		{"1e-400 1", "fd", "n=2 0 1"},
		{"  \t\n7.5\v 1", "fd", "n=2 7.5 1"},
		{"7,5 1", "fd", "n=1 7 0"},
		{"", "fd", "n=-1 0 0"},
		{"  ", "fd", "n=-1 0 0"},
		{"x", "fd", "n=0 0 0"},
		{"1", "fd", "n=1 1 0"},
		{"1e 5", "dd", "n=1 1 0"},
		{"+5 1", "dd", "n=2 5 1"},
		{"-0 1", "dd", "n=2 0 1"},
		{"--5 1", "dd", "n=0 0 0"},
		{"+-5 1", "dd", "n=0 0 0"},
		{"0005 1", "dd", "n=2 5 1"},
		{"2147483648 1", "dd", "n=2 -2147483648 1"},
		{"-2147483649 1", "dd", "n=2 2147483647 1"},
		{"4294967297 1", "dd", "n=2 1 1"},
		{"99999999999 1", "dd", "n=2 1215752191 1"},
		{"99999999999999999999 1", "dd", "n=2 -1 1"},
		{"-9223372036854775809 1", "dd", "n=2 0 1"},
		{"12abc 1", "dd", "n=1 12 0"},
		{"0x 5", "dd", "n=1 0 0"},
	}
	for _, tc := range tests {
		t.Run(tc.verbs+" "+tc.in, func(t *testing.T) {
			v, n := cscan(tc.in, tc.verbs)
			parts := []string{fmt.Sprintf("n=%d", n)}
			for k, verb := range tc.verbs {
				if verb == 'd' {
					parts = append(parts, fmt.Sprint(v[k].I))
				} else {
					parts = append(parts, fmt.Sprint(v[k].F))
				}
			}
			if got := strings.Join(parts, " "); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if v, _ := cscan("-nan", "f"); !math.Signbit(v[0].F) {
		t.Errorf("-nan lost its sign")
	}
}

func TestCfloat(t *testing.T) {
	tests := []struct {
		v    float64
		want string // printf("[%15.2f]")
	}{
		{0, "[           0.00]"},
		{math.Copysign(0, -1), "[          -0.00]"},
		{2.956522, "[           2.96]"},
		{0.125, "[           0.12]"}, // exact binary value rounds to even
		{0.375, "[           0.38]"},
		{math.Inf(1), "[            inf]"},
		{math.Inf(-1), "[           -inf]"},
		{math.NaN(), "[            nan]"},
		{math.Copysign(math.NaN(), -1), "[           -nan]"},
		{123456789012345678, "[123456789012345680.00]"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := "[" + cfloat(15, 2, tc.v) + "]"; got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStrerror(t *testing.T) {
	tests := []struct {
		errno syscall.Errno
		want  string
	}{
		{syscall.ENOENT, "No such file or directory"},
		{syscall.ECONNREFUSED, "Connection refused"},
		{syscall.EACCES, "Permission denied"},
		{syscall.EPIPE, "Broken pipe"},
		{syscall.ECONNRESET, "Connection reset by peer"},
		{syscall.ENOTSOCK, "Socket operation on non-socket"},
		{0, "Success"},
		{41, "Unknown error 41"},
		{133, "Memory page has hardware error"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := Strerror(tc.errno); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTransportErrorMessage(t *testing.T) {
	tests := []struct {
		err  TransportError
		want string
	}{
		{TransportError{"connect", syscall.ENOENT}, "ERROR MXCommand: connect: No such file or directory: Is multiplexor running?\n"},
		{TransportError{"connect", syscall.EACCES}, "ERROR MXCommand: connect: Permission denied\n"},
		{TransportError{"connect", syscall.EPERM}, "ERROR MXCommand: connect: Operation not permitted\n"},
		{TransportError{"socket", syscall.EMFILE}, "ERROR MXCommand: socket: Too many open files\n"},
		{TransportError{"write", syscall.EPIPE}, "ERROR MXCommand: write: Broken pipe: Is multiplexor running?\n"},
		{TransportError{"read", syscall.ECONNRESET}, "ERROR MXCommand: read: Connection reset by peer: Is multiplexor running?\n"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.err.Message(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if !strings.HasPrefix(tc.err.Error(), "mxctrl: "+tc.err.Op+": ") {
				t.Errorf("Error() = %q, want the mxctrl: prefix", tc.err.Error())
			}
		})
	}
}

package dnscheck

import (
	"regexp"
	"strconv"
	"strings"
)

// ExpandIPv6Address is expand_ipv6_address($addr): the address with "::"
// written out as zero fields and every field padded to four hex digits.
// Like the original it leaves an address with two "::" as it is and does
// not check that the result is an address.
func ExpandIPv6Address(addr string) string {
	if addr == "::" {
		return "0000:0000:0000:0000:0000:0000:0000:0000"
	}
	if strings.Contains(addr, "::") {
		if i := strings.Index(addr, "::"); strings.Contains(addr[i+2:], "::") {
			return addr
		}
		if strings.HasPrefix(addr, "::") {
			addr = "0000" + addr
		}
		if strings.HasSuffix(addr, "::") {
			addr += "0000"
		}
		if colons := strings.Count(addr, ":"); colons < 8 {
			addr = strings.Replace(addr, "::", ":"+strings.Repeat("0000:", 8-colons), 1)
		}
	}
	fields := perlSplit(addr, ":")
	for i, f := range fields {
		if len(f) < 4 {
			fields[i] = strings.Repeat("0", 4-len(f)) + f
		}
	}
	return strings.Join(fields, ":")
}

// perlSplit is Perl's split with a literal separator: trailing empty fields
// are dropped.
func perlSplit(s, sep string) []string {
	f := strings.Split(s, sep)
	for len(f) > 0 && f[len(f)-1] == "" {
		f = f[:len(f)-1]
	}
	return f
}

// ReverseIPAddressForRBL is reverse_ip_address_for_rbl($addr): an IPv4
// address's octets in reverse order ("192.0.2.1" is "1.2.0.192"), an IPv6
// address's nibbles in reverse order, dot-separated.
func ReverseIPAddressForRBL(addr string) string {
	if strings.Contains(addr, ":") {
		x := strings.ReplaceAll(ExpandIPv6Address(addr), ":", "")
		out := make([]string, 0, len(x))
		for i := len(x) - 1; i >= 0; i-- {
			out = append(out, x[i:i+1])
		}
		return strings.Join(out, ".")
	}
	f := perlSplit(addr, ".")
	for i, j := 0, len(f)-1; i < j; i, j = i+1, j-1 {
		f[i], f[j] = f[j], f[i]
	}
	return strings.Join(f, ".")
}

var digits = regexp.MustCompile(`^\d+$`)

// IsPublicIP4Address is is_public_ip4_address($addr): false for anything
// that is not four decimal octets, and for the private, loopback,
// link-local, multicast, class E (240-247, as the original), 0.0.0.0 and
// 255.255.255.255 addresses.
func IsPublicIP4Address(addr string) bool {
	f := perlSplit(addr, ".")
	if len(f) != 4 {
		return false
	}
	var o [4]int
	for i, s := range f {
		if !digits.MatchString(s) {
			return false
		}
		n, err := strconv.Atoi(strings.TrimSuffix(s, "\n"))
		if err != nil || n > 255 {
			return false
		}
		o[i] = n
	}
	switch {
	case o[0] == 10,
		o[0] == 172 && o[1] >= 16 && o[1] <= 31,
		o[0] == 192 && o[1] == 168,
		o[0] == 127,
		o[0] == 169 && o[1] == 254,
		o[0] >= 224 && o[0] <= 239,
		o[0] >= 240 && o[0] <= 247,
		o == [4]int{0, 0, 0, 0},
		o == [4]int{255, 255, 255, 255}:
		return false
	}
	return true
}

// IsPublicIP6Address is is_public_ip6_address($addr): false for unique
// local (fd...) and link-local (fe80...) addresses, true for anything
// else, as the original (which checks nothing more).
func IsPublicIP6Address(addr string) bool {
	first, _, _ := strings.Cut(addr, ":")
	first = strings.ToLower(first)
	return !strings.HasPrefix(first, "fd") && !strings.HasPrefix(first, "fe80")
}

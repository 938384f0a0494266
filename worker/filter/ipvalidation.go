package filter

import (
	"fmt"
	"os"
	"strings"
)

// AddIPValidationHeader is add_ip_validation_header(): it adds the
// IP-validation header (Config.ValidateIPHeader) with $RelayAddr, so that a
// relay further on can trust the client address; false, logged, when there
// is no validation header (no key file).
func (c *Context) AddIPValidationHeader() bool {
	if c.Config == nil || c.Config.ValidateIPHeader == "" {
		c.MdSyslog("warning", "add_ip_validation_header called, but no validation header available.  Check permissions on "+ipKeyPath)
		return false
	}
	c.ActionAddHeader(c.Config.ValidateIPHeader, c.RelayAddr)
	return true
}

// DeleteIPValidationHeader is delete_ip_validation_header(): it deletes
// every IP-validation header of the message; false, logged, when there is
// no validation header.
func (c *Context) DeleteIPValidationHeader() bool {
	if c.Config == nil || c.Config.ValidateIPHeader == "" {
		c.MdSyslog("warning", "delete_ip_validation_header called, but no validation header available.  Check permissions on "+ipKeyPath)
		return false
	}
	c.ActionDeleteAllHeaders(c.Config.ValidateIPHeader)
	return true
}

// ipKeyPath is where the original's message says the key is.
const ipKeyPath = "/etc/mimedefang-ip-key"

// IPKeyFiles are where ReadIPKey looks, in order, when $MD_IP_KEY_FILE is
// unset: the upstream CONFDIR and Debian's.
var IPKeyFiles = []string{"/etc/mail/mimedefang-ip-key", ipKeyPath}

// ReadIPKey returns the IP-validation header name, as mimedefang.pl reads
// it at start: the first line of $MD_IP_KEY_FILE, or of the first of
// IPKeyFiles that can be read; "" when none can.
func ReadIPKey() string {
	paths := IPKeyFiles
	if p := os.Getenv("MD_IP_KEY_FILE"); p != "" {
		paths = []string{p}
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return line
	}
	return ""
}

// CheckIPKey is mimedefang.pl's check after loading the filter: a
// validation header that does not start with X-MIMEDefang-Relay is refused
// (returned as "", with the original's message).
func CheckIPKey(header string) (string, error) {
	if header != "" && !strings.HasPrefix(header, "X-MIMEDefang-Relay") {
		return "", fmt.Errorf("Invalid value for mimedefang-ip-key: %s", header)
	}
	return header, nil
}

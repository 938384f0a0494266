package mxctrl

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name  string
		args  string // split on '|'
		posix bool
		want  Options
	}{
		{"command", "workerinfo|0", false, Options{Command: []string{"workerinfo", "0"}}},
		{"words with spaces", "NoSuchCommand|arg1|arg with space", false,
			Options{Command: []string{"NoSuchCommand", "arg1", "arg with space"}}},
		{"socket", "-s|/x|status", false, Options{Socket: "/x", SocketSet: true, Command: []string{"status"}}},
		{"socket attached", "-s/x|status", false, Options{Socket: "/x", SocketSet: true, Command: []string{"status"}}},
		{"empty socket", "-s||status", false, Options{Socket: "", SocketSet: true, Command: []string{"status"}}},
		{"last socket wins", "-s|/a|-s|/b|msgs", false, Options{Socket: "/b", SocketSet: true, Command: []string{"msgs"}}},
		{"options after the command", "status|-s|/x", false, Options{Socket: "/x", SocketSet: true, Command: []string{"status"}}},
		{"cluster", "-is|/x", false, Options{Interactive: true, Socket: "/x", SocketSet: true}},
		{"socket swallows -i", "-si", false, Options{Socket: "i", SocketSet: true}},
		{"socket takes a dash word", "-s|-i|x", false, Options{Socket: "-i", SocketSet: true, Command: []string{"x"}}},
		{"double dash", "-s|/x|--|-i|load", false, Options{Socket: "/x", SocketSet: true, Command: []string{"-i", "load"}}},
		{"double dash after words", "tick|--|-5", false, Options{Command: []string{"tick", "-5"}}},
		{"lone dash is a word", "-|x", false, Options{Command: []string{"-", "x"}}},
		{"dash word is an option", "tick|-5", false, Options{Command: []string{"tick"}, Problem: "invalid option -- '5'"}},
		{"POSIXLY_CORRECT stops at a word", "tick|-5", true, Options{Command: []string{"tick", "-5"}}},
		{"POSIXLY_CORRECT keeps --", "x|--|y", true, Options{Command: []string{"x", "--", "y"}}},
		{"help stops parsing", "-s|/a|-h|-s|/b|-x", false, Options{Socket: "/a", SocketSet: true, Help: true}},
		{"help in a cluster", "-ih", false, Options{Interactive: true, Help: true}},
		{"bad option stops parsing", "-x|-h", false, Options{Problem: "invalid option -- 'x'"}},
		{"missing socket", "status|-s", false, Options{Command: []string{"status"}, Problem: "option requires an argument -- 's'"}},
		{"long socket", "--socket|/x|status", false, Options{Socket: "/x", SocketSet: true, Command: []string{"status"}}},
		{"long socket equals", "--socket=/x|status", false, Options{Socket: "/x", SocketSet: true, Command: []string{"status"}}},
		{"long socket missing", "--socket", false, Options{Problem: "option '--socket' requires an argument"}},
		{"long interactive and help", "--interactive|--help", false, Options{Interactive: true, Help: true}},
		{"other long names are what the original sees", "--sock|/x", false, Options{Problem: "invalid option -- '-'"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseArgs(strings.Split(tc.args, "|"), tc.posix)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestSocketPath(t *testing.T) {
	if got := (Options{}).SocketPath(); got != DefaultSocket {
		t.Errorf("default %q", got)
	}
	if got := (Options{SocketSet: true}).SocketPath(); got != "" {
		t.Errorf("-s \"\" gave %q, want the empty path", got)
	}
}

package spamd

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseReply(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want Reply
		err  bool
	}{
		{name: "report spam", in: "SPAMD/1.1 0 EX_OK\r\nContent-length: 7\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nreport\nTRAILING",
			want: Reply{Version: "1.1", Message: "EX_OK", HasSpam: true, Spam: "True", Score: 1000, Threshold: 5, ContentLength: 7,
				Headers: []string{"Content-length: 7", "Spam: True ; 1000.0 / 5.0"}, Body: []byte("report\n")}},
		{name: "check clean LF", in: "SPAMD/1.1 0 EX_OK\nSpam: False ; -0.1 / 5.0\n\n",
			want: Reply{Version: "1.1", Message: "EX_OK", HasSpam: true, Spam: "False", Score: -0.1, Threshold: 5, ContentLength: -1,
				Headers: []string{"Spam: False ; -0.1 / 5.0"}, Body: []byte{}}},
		{name: "pong", in: "SPAMD/1.5 0 PONG\r\n",
			want: Reply{Version: "1.5", Message: "PONG", ContentLength: -1, Body: []byte{}}},
		{name: "error status", in: "SPAMD/1.0 76 Bad header line: XYZ\r\n",
			want: Reply{Version: "1.0", Code: 76, Message: "Bad header line: XYZ", ContentLength: -1, Body: []byte{}}},
		{name: "old Yes", in: "SPAMD/1.0 0 EX_OK\r\nSpam: Yes ; 7.5 / 5.0\r\n\r\n",
			want: Reply{Version: "1.0", Message: "EX_OK", HasSpam: true, Spam: "Yes", Score: 7.5, Threshold: 5, ContentLength: -1,
				Headers: []string{"Spam: Yes ; 7.5 / 5.0"}, Body: []byte{}}},
		{name: "empty", in: "", err: true},
		{name: "http", in: "HTTP/1.1 200 OK\r\n\r\n", err: true},
		{name: "bad spam", in: "SPAMD/1.1 0 EX_OK\r\nSpam: True ; lots / 5\r\n\r\n", err: true},
		{name: "nan", in: "SPAMD/1.1 0 EX_OK\r\nSpam: True ; NaN / 5\r\n\r\n", err: true},
		{name: "no colon", in: "SPAMD/1.1 0 EX_OK\r\nSpam True\r\n\r\n", err: true},
		{name: "short body", in: "SPAMD/1.1 0 EX_OK\r\nContent-length: 99\r\nSpam: True ; 1 / 5\r\n\r\nabc", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseReply([]byte(tc.in))
			if tc.err {
				if err == nil {
					t.Fatalf("no error, got %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	if _, err := ParseReply(nil); !errors.Is(err, ErrNoStatus) {
		t.Errorf("nil: %v", err)
	}
}

func TestSymbols(t *testing.T) {
	if got := Symbols([]byte("GTUBE,NO_RECEIVED,NO_RELAYS\r\n")); !reflect.DeepEqual(got, []string{"GTUBE", "NO_RECEIVED", "NO_RELAYS"}) {
		t.Errorf("got %q", got)
	}
	if got := Symbols([]byte("\r\n")); got != nil {
		t.Errorf("got %q", got)
	}
}

func TestValues(t *testing.T) {
	if v := (Result{}).Values(); v != nil {
		t.Errorf("failure: %v", v)
	}
	if v := (Result{}).CheckValues(); v != nil {
		t.Errorf("failure: %v", v)
	}
	r := Result{OK: true, Score: 1000, Threshold: 5, Spam: "True", IsSpam: true, Tests: []string{"A", "B"}, Report: "r"}
	if v := r.Values(); !reflect.DeepEqual(v, []any{1000.0, 5.0, "r", "True"}) {
		t.Errorf("Values %v", v)
	}
	if v := r.CheckValues(); !reflect.DeepEqual(v, []any{1000.0, 5.0, "A,B", "r"}) {
		t.Errorf("CheckValues %v", v)
	}
}

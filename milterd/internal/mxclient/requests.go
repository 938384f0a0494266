package mxclient

import (
	"context"
	"fmt"
	"strings"

	"github.com/mdgo/md/proto"
)

// Free asks how many workers are free ("free\n"; utils.c:
// MXCheckFreeWorkers). The reply is read with sscanf("%d"): anything that
// does not start with a number is an *Error wrapping proto.ErrBadReply. A
// negative count is returned as it is; the milter tempfails on it as well
// (docs/reference/protocol.md §4.1).
func (c *Client) Free(ctx context.Context) (int, error) {
	r, err := c.Exchange(ctx, proto.Free{}.Line())
	if err != nil {
		return 0, err
	}
	n, err := proto.ParseFreeReply(proto.CString(r.Text))
	if err != nil {
		return 0, &Error{Command: "free", Op: "reply", Reply: logReply(r.Text), Err: err}
	}
	return n, nil
}

// RelayOK sends the connect-time check, "relayok ip name client_port myip
// daemon_port qid" with the stand-ins of docs/reference/protocol.md §3.2 (utils.c:
// MXRelayOK). See Check for the reply.
func (c *Client) RelayOK(ctx context.Context, req proto.RelayOK) (proto.CheckReply, error) {
	return c.check(ctx, req)
}

// HeloOK sends the HELO check, "helook ip name helo client_port myip
// daemon_port qid" (utils.c: MXHeloOK). See Check for the reply.
func (c *Client) HeloOK(ctx context.Context, req proto.HeloOK) (proto.CheckReply, error) {
	return c.check(ctx, req)
}

// SenderOK sends the MAIL FROM check, "senderok sender ip name helo dir qid
// [esmtp_arg...]" (utils.c: MXSenderOK). See Check for the reply.
func (c *Client) SenderOK(ctx context.Context, req proto.SenderOK) (proto.CheckReply, error) {
	return c.check(ctx, req)
}

// RecipOK sends the RCPT TO check, "recipok rcpt sender ip name first_rcpt
// helo dir qid mailer host addr [esmtp_arg...]" (utils.c: MXRecipientOK).
// See Check for the reply.
func (c *Client) RecipOK(ctx context.Context, req proto.RecipOK) (proto.CheckReply, error) {
	return c.check(ctx, req)
}

// Check sends one of the four checks (proto.RelayOK, HeloOK, SenderOK or
// RecipOK) and parses the reply exactly as the original milter does
// (utils.c: munch_mx_return, via proto.ParseCheckReply). A reply that is not
// "ok N..." with N in -1..3 — "error: ...", "ERR ...", an empty reply, "ok
// 4", garbage — is an *Error wrapping proto.ErrBadReply, which the milter
// turns into a tempfail with the MTA's default text. "ok -1 ..." is not an
// error: it is a tempfail the filter asked for, with its own text. Pass the
// result to Decide.
//
// Any other request type is refused with an error, without a connection.
func (c *Client) Check(ctx context.Context, req proto.Request) (proto.CheckReply, error) {
	switch req.(type) {
	case proto.RelayOK, proto.HeloOK, proto.SenderOK, proto.RecipOK,
		*proto.RelayOK, *proto.HeloOK, *proto.SenderOK, *proto.RecipOK:
		return c.check(ctx, req)
	}
	return proto.CheckReply{}, &Error{Command: req.Command(), Op: "write",
		Err: fmt.Errorf("mxclient: %s is not a check request", req.Command())}
}

func (c *Client) check(ctx context.Context, req proto.Request) (proto.CheckReply, error) {
	r, err := c.Exchange(ctx, req.Line())
	if err != nil {
		return proto.CheckReply{}, err
	}
	cr, err := proto.ParseCheckReply(r.Text)
	if err != nil {
		// munch_mx_return logs the reply after chomp, which removed
		// every CR and LF.
		text := strings.NewReplacer("\r", "", "\n", "").Replace(proto.CString(r.Text))
		return proto.CheckReply{}, &Error{Command: req.Command(), Op: "reply", Reply: text, Err: err}
	}
	return cr, nil
}

// Scan asks the multiplexor to filter the message in req.Dir, "scan qid
// dir" (utils.c: MXScanDir). It succeeds only when the reply is exactly
// proto.ScanOK, "ok\n". Anything else — "error: ...", "ERR ...", an empty
// reply, "ok" without its newline or with more after it — is an *Error
// whose Reply is the text the original logs ("Error from multiplexor:
// <reply minus one final LF>"); the milter then tempfails and counts the
// filter as failed.
//
// As in the original, which compares C strings, nothing after a NUL byte
// counts.
func (c *Client) Scan(ctx context.Context, req proto.Scan) error {
	r, err := c.Exchange(ctx, req.Line())
	if err != nil {
		return err
	}
	if proto.CString(r.Text) == proto.ScanOK {
		return nil
	}
	return &Error{Command: "scan", Op: "reply", Reply: logReply(r.Text),
		Err: fmt.Errorf("%w: scan reply %q", proto.ErrBadReply, r.Text)}
}

// logReply is the reply minus one final LF, as MXScanDir logs it.
func logReply(s string) string {
	return strings.TrimSuffix(proto.CString(s), "\n")
}

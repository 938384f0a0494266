package filter

import (
	"github.com/mdgo/md/worker/message"
)

// Callbacks is a filter: the subs a MIMEDefang Perl filter may define, as
// optional func fields. A nil field is an undefined sub (mimedefang.pl
// tests defined(&name) before every call) and gets the original's
// behaviour for an undefined sub, documented on each field.
//
// A callback that returns an error, panics, or is still running when the
// request's deadline passes fails the request: a scan is answered
// "error: <msg>" (the milter tempfails the message) and nothing after the
// failure is written to RESULTS; a check is answered "error: <msg>" too,
// which the milter also turns into a tempfail.
type Callbacks struct {
	// Initialize is filter_initialize: called once per worker process
	// before the first request (and before a one-shot scan).
	Initialize func(c *Context) error

	// Relay is filter_relay($ip, $name, $port, $myip, $myport, $qid), the
	// connect check (milter -r). Undefined: "ok 1 ok 250 2.1.0 0".
	Relay func(c *Context, r RelayRequest) (Answer, error)
	// Helo is filter_helo, the HELO/EHLO check (milter -H).
	// Undefined: "ok 1 ok 250 2.1.0 0".
	Helo func(c *Context, r HeloRequest) (Answer, error)
	// Sender is filter_sender, the MAIL FROM check (milter -s). c.CWD is
	// the message's working directory, so ActionAddHeader and the envelope
	// edits append to its RESULTS and take effect at end of message.
	// Undefined: "ok 1 ok 250 2.1.0 0".
	Sender func(c *Context, r SenderRequest) (Answer, error)
	// Recipient is filter_recipient, the RCPT TO check (milter -t).
	// Undefined: "ok 1 ok 250 2.1.0 0".
	Recipient func(c *Context, r RecipientRequest) (Answer, error)

	// Begin is filter_begin($entity): called with the parsed top-level
	// entity (always a multipart container, see message.Message.Top)
	// before the part walk.
	Begin func(c *Context, top *message.Part) error
	// Filter is filter($entity, $fname, $ext, $type), called for each
	// leaf part. fname is the part's suggested file name
	// (message.Part.FileName), ext its last "." and what follows or "",
	// typ its lower-cased MIME type. The part's disposition is chosen by
	// calling the part actions (ActionDrop ...); the default is accept.
	Filter func(c *Context, p *message.Part, fname, ext, typ string) error
	// Multipart is filter_multipart, called with the same arguments for
	// each container part (multipart/*, attached message/rfc822). A drop
	// or replace here removes the whole subtree and its children are not
	// visited.
	Multipart func(c *Context, p *message.Part, fname, ext, typ string) error
	// End is filter_end($entity), called with the rebuilt top-level
	// entity after the part walk and after warnings were inserted.
	End func(c *Context, top *message.Part) error
	// Wrapup is filter_wrapup($entity), called after NEWBODY and the
	// C/M lines were written and before F. Only header and envelope
	// actions make sense here.
	Wrapup func(c *Context, top *message.Part) error

	// Cleanup is filter_cleanup: called when stdin reaches EOF in server
	// mode; its result is the process exit status (undefined: 0).
	Cleanup func(c *Context) (int, error)
	// Tick is filter_tick($band). Undefined: the reply is
	// "error: tick <n>: filter_tick undefined".
	Tick func(c *Context, band int) error
	// Map is filter_map($mapname, $key), a Sendmail SOCKETMAP lookup. The
	// code must be one of OK, NOTFOUND, TEMP, TIMEOUT, PERM; any other
	// gives "PERM Invalid code from filter_map: <code>". Undefined:
	// "PERM No filter_map function defined".
	Map func(c *Context, mapName, key string) (code, value string, err error)
	// UnknownCmd is filter_unknown_cmd($cmd, @args) for a server command
	// that is neither built in nor in Handlers. cmd is lower-cased, args
	// are percent-decoded. The first returned element must be "ok" or
	// "error:" (anything else is replaced by "error:"); every element is
	// percent-encoded and the elements are joined by single spaces.
	// Undefined: "error: Unknown command".
	UnknownCmd func(c *Context, cmd string, args []string) ([]string, error)
	// Validate is filter_validate, run by "md-worker -f FILTER -validate";
	// its result is the exit status. Undefined: exit status 1.
	Validate func(c *Context) (int, error)
	// DefangWarning is defang_warning($oldfname, $newfname): the warning
	// text ActionDefang uses. Nil: the built-in sentence.
	DefangWarning func(c *Context, oldName, newName string) (string, error)

	// Handlers are the filter's handle_<cmd> subs, keyed by the
	// lower-cased command word without the "handle_" prefix. A handler
	// returns the whole reply line; a final "\n" is added when missing
	// and the line is written in one write. Built-in commands (ping, scan,
	// relayok, helook, senderok, recipok, map, tick) are not looked up
	// here.
	Handlers map[string]func(c *Context, args []string) (reply string, err error)
}

// RelayRequest holds the arguments of filter_relay, as the milter sent them
// in "relayok ip name port myip myport qid". Ports are decimal text.
type RelayRequest struct {
	IP, Name, Port, MyIP, MyPort, QueueID string
}

// HeloRequest holds the arguments of filter_helo ("helook ip name helo port
// myip myport qid").
type HeloRequest struct {
	IP, Name, Helo, Port, MyIP, MyPort, QueueID string
}

// SenderRequest holds the arguments of filter_sender($sender, $ip, $name,
// $helo). ESMTPArgs are the MAIL FROM parameters (also in c.ESMTPArgs).
type SenderRequest struct {
	Sender, IP, Name, Helo string
	ESMTPArgs              []string
}

// RecipientRequest holds the arguments of filter_recipient($rcpt, $sender,
// $ip, $name, $first, $helo, $rcpt_mailer, $rcpt_host, $rcpt_addr). First
// is the first RCPT TO of the transaction; Mailer, Host and Addr are the
// Sendmail {rcpt_*} macros, "?" when unknown. ESMTPArgs are the RCPT TO
// parameters (also in c.ESMTPArgs).
type RecipientRequest struct {
	Rcpt, Sender, IP, Name, First, Helo string
	Mailer, Host, Addr                  string
	ESMTPArgs                           []string
}

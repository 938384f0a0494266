package rspamd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Client asks rspamd about messages with one Config. It keeps no
// connection between calls and is safe for concurrent use.
type Client struct {
	cfg    Config
	client *http.Client
}

// New returns a Client for cfg; zero fields of cfg take the defaults
// documented on Config.
func New(cfg Config) *Client {
	cfg = cfg.withDefaults()
	return &Client{cfg: cfg, client: &http.Client{Transport: cfg.Transport, Timeout: cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Envelope is what the SMTP dialogue told about the message, sent as
// rspamd's request headers; empty fields are left out.
type Envelope struct {
	From     string   // MAIL FROM ("From"), with or without <>
	Rcpt     []string // RCPT TO, one "Rcpt" header each
	IP       string   // the SMTP client's address ("IP")
	Helo     string   // its HELO name ("Helo")
	Hostname string   // its resolved name ("Hostname"); leave "" when unresolved
	User     string   // the SMTP AUTH user ("User")
	QueueID  string   // the MTA's queue ID ("Queue-Id")
}

// Check is rspamd_check($url): it posts msg to url + "/checkv2" ("" means
// Config.URL) with env as request headers and user agent MIMEDefang, and
// reads rspamd's JSON answer into (hits, required, tests, report, action,
// is_spam). Every failure gives SoftReject() and logs the original's
// "Cannot connect to Rspamd server, the message will be temporarily
// delayed" (priority "Warning") after a line that says what failed: the
// connection, the timeout (Config.Timeout or ctx), an HTTP status other
// than 200, a body that is not rspamd's answer (the original dies on
// one, which tempfails the message).
func (c *Client) Check(ctx context.Context, url string, msg io.Reader, env Envelope) Result {
	if ctx == nil {
		ctx = context.Background()
	}
	if url == "" {
		url = c.cfg.URL
	}
	endpoint := strings.TrimRight(url, "/") + "/checkv2"
	body, err := c.post(ctx, endpoint, msg, env)
	if err == nil {
		var r Result
		if r, err = ParseReply(body); err == nil {
			return r
		}
		err = fmt.Errorf("unexpected answer: %w", err)
	}
	c.cfg.Log("Warning", fmt.Sprintf("rspamd_check: %s: %v", endpoint, err))
	c.cfg.Log("Warning", "Cannot connect to Rspamd server, the message will be temporarily delayed")
	return SoftReject()
}

func (c *Client) post(ctx context.Context, endpoint string, msg io.Reader, env Envelope) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, msg)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", UserAgent)
	set := func(k, v string) {
		if v != "" {
			req.Header[k] = append(req.Header[k], v)
		}
	}
	set("From", strings.TrimSuffix(strings.TrimPrefix(env.From, "<"), ">"))
	for _, r := range env.Rcpt {
		set("Rcpt", strings.TrimSuffix(strings.TrimPrefix(r, "<"), ">"))
	}
	set("IP", env.IP)
	set("Helo", env.Helo)
	set("Hostname", env.Hostname)
	set("User", env.User)
	set("Queue-Id", env.QueueID)
	resp, err := c.client.Do(req)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			return nil, fmt.Errorf("timeout: %w", err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReply+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP status %s: %s", resp.Status, truncate(string(b)))
	}
	if len(b) > maxReply {
		return nil, fmt.Errorf("answer longer than %d bytes", maxReply)
	}
	return b, nil
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

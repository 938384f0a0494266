package filter_test

import "github.com/mdgo/md/worker/filter"

// A Go filter that asks the next hop about every recipient, as a Perl
// filter_recipient does with "return md_check_against_smtp_server(...)".
// A next hop that cannot be reached tempfails the recipient.
func ExampleContext_MdCheckAgainstSMTPServer() {
	cb := &filter.Callbacks{
		Recipient: func(c *filter.Context, r filter.RecipientRequest) (filter.Answer, error) {
			return c.MdCheckAgainstSMTPServer(r.Sender, r.Rcpt, "mx.example.org", "10.0.0.5", 25).Answer(), nil
		},
	}
	_ = filter.NewWorker(cb, nil, filter.WorkerOptions{})
}

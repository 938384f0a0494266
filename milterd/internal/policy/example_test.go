package policy_test

import (
	"fmt"

	"github.com/mdgo/md/milterd/internal/policy"
	"github.com/mdgo/md/proto"
)

// A filter's reject at RCPT, as the multiplexor relays it, and what the
// milter tells the MTA.
func ExampleDecide() {
	r, err := proto.ParseCheckReply("ok 0 User%20unknown%0Atry%20another 550 5.1.1 0\n")
	if err != nil {
		panic(err)
	}
	d := policy.Decide(policy.Recipient, r)
	fmt.Println(d.Verdict)
	fmt.Printf("%q\n", d.Reply.String())
	// For go-milter: milter.RejectWithCodeAndReason(d.Reply.CodeNumber(), d.Reply.Reason())
	fmt.Printf("%d %q\n", d.Reply.CodeNumber(), d.Reply.Reason())
	// Output:
	// reject
	// "550-5.1.1 User unknown\r\n550 5.1.1 try another"
	// 550 "5.1.1 User unknown\ntry another"
}

func ExampleSetReply() {
	fmt.Println(policy.SetReply('4', "554", "5.7.1", ""))
	fmt.Println(policy.SetReply('5', "550", "5.7.0", "100% spam"))
	// Output:
	// 451 4.3.0 [Please try again later]
	// 550 5.7.0 [100% spam]
}

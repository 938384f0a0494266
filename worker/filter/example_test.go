package filter_test

import (
	"context"
	"fmt"

	"github.com/mdgo/md/worker/filter"
)

// The reply a check callback's Answer becomes, as mimedefang.pl's
// send_filter_answer formats it.
func ExampleAnswer_Reply() {
	fmt.Print(filter.Answer{Verdict: filter.Reject, Msg: "No such user", Code: "550", DSN: "5.1.1"}.Reply())
	fmt.Print(filter.Answer{Verdict: filter.TempFail, Code: "550"}.Reply())
	fmt.Print(filter.Answer{Verdict: filter.Int(1), Msg: "ok", Delay: 2}.Reply())
	// Output:
	// ok 0 No%20such%20user 550 5.1.1 0
	// ok -1 ? 451 4.3.0 0
	// ok 1 ok 250 2.1.0 2
}

// A Worker answers request lines; undefined callbacks get mimedefang.pl's
// answers.
func ExampleWorker_Handle() {
	w := filter.NewWorker(&filter.Callbacks{}, nil, filter.WorkerOptions{})
	ctx := context.Background()
	fmt.Print(w.Handle(ctx, "ping\n"))
	fmt.Print(w.Handle(ctx, "relayok 192.0.2.1 host.example 4711 192.0.2.25 25 NOQUEUE\n"))
	fmt.Print(w.Handle(ctx, "map virtusers alice\n"))
	fmt.Print(w.Handle(ctx, "tick 1\n"))
	// Output:
	// PONG
	// ok 1 ok 250 2.1.0 0
	// PERM No filter_map function defined
	// error: tick 1: filter_tick undefined
}

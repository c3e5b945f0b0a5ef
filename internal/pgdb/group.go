package pgdb

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Group runs the writes of concurrent callers together: a caller hands its input over and
// waits; a runner takes every input waiting when it is free and writes them with one call of
// Run (one statement, one commit). Under load many callers share a statement's start-up, its
// statement triggers and its commit, which is what bounds writes per second here, not rows;
// alone, a caller waits for no one (nothing is delayed to gather a group). Callers are answered
// after the commit that carries their input, so what is acknowledged is stored.
//
// The zero Group is not ready: set Run (and Runners, Max). A Group's runners live as long as
// the process, like the pool they write to.
type Group[In, Out any] struct {
	// Runners is how many batches are in flight at once (default 4); Max is the most inputs
	// one batch carries (default 128).
	Runners, Max int
	// Run writes a batch and returns one output per input, in the inputs' order.
	Run func(ctx context.Context, batch []In) ([]Out, error)
	// Alone says whether a batch that failed with err is worth running again input by input,
	// so that one bad input (a row a constraint refuses) fails only its own caller. Nil: always.
	// Errors that would fail every input alone too (the database unreachable) should say no.
	Alone func(err error) bool
	// Timeout bounds one call of Run (default 30 s): the callers of a batch stuck in the
	// database get an error rather than waiting for ever.
	Timeout time.Duration

	once  sync.Once
	queue chan groupCall[In, Out]
}

type groupCall[In, Out any] struct {
	in   In
	done chan groupResult[Out]
}

type groupResult[Out any] struct {
	out Out
	err error
}

// Do writes in together with whatever other inputs are waiting and returns its output. Once
// handed over, its outcome is waited for whatever ctx does, so a cancelled caller never reports
// "not written" for an input that was committed.
func (g *Group[In, Out]) Do(ctx context.Context, in In) (Out, error) {
	g.once.Do(g.start)
	c := groupCall[In, Out]{in: in, done: make(chan groupResult[Out], 1)}
	select {
	case g.queue <- c:
	case <-ctx.Done():
		var zero Out
		return zero, ctx.Err()
	}
	r := <-c.done
	return r.out, r.err
}

func (g *Group[In, Out]) start() {
	if g.Runners <= 0 {
		g.Runners = 4
	}
	if g.Max <= 0 {
		g.Max = 128
	}
	if g.Timeout <= 0 {
		g.Timeout = 30 * time.Second
	}
	g.queue = make(chan groupCall[In, Out], g.Runners*g.Max)
	for range g.Runners {
		go g.runner()
	}
}

func (g *Group[In, Out]) runner() {
	calls := make([]groupCall[In, Out], 0, g.Max)
	ins := make([]In, 0, g.Max)
	for first := range g.queue {
		calls = append(calls[:0], first)
	gather:
		for len(calls) < g.Max {
			select {
			case c := <-g.queue:
				calls = append(calls, c)
			default:
				break gather
			}
		}
		ins = ins[:0]
		for _, c := range calls {
			ins = append(ins, c.in)
		}
		g.write(calls, ins)
	}
}

func (g *Group[In, Out]) write(calls []groupCall[In, Out], ins []In) {
	ctx, cancel := context.WithTimeout(context.Background(), g.Timeout)
	outs, err := g.Run(ctx, ins)
	cancel()
	if err == nil && len(outs) != len(ins) {
		err = fmt.Errorf("group write returned %d outputs for %d inputs", len(outs), len(ins))
	}
	if err == nil {
		for i, c := range calls {
			c.done <- groupResult[Out]{out: outs[i]}
		}
		return
	}
	if len(calls) == 1 || (g.Alone != nil && !g.Alone(err)) {
		for _, c := range calls {
			c.done <- groupResult[Out]{err: err}
		}
		return
	}
	for _, c := range calls {
		g.write([]groupCall[In, Out]{c}, []In{c.in})
	}
}

package guard

import (
	"context"
	"time"

	"github.com/breakwater-dev/breakwater/internal/guard/breaker"
	"github.com/breakwater-dev/breakwater/internal/guard/retry"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
)

// retryPolicy is what the retry loop needs of an endpoint or a retrieval backend.
type retryPolicy struct {
	maxAttempts   int
	maxRetryAfter time.Duration
	budget        *retry.Budget
	backoff       retry.Backoff
}

func newRetryPolicy(c guardconfig.Retry, budget *retry.Budget) retryPolicy {
	return retryPolicy{
		maxAttempts:   c.MaxAttempts,
		maxRetryAfter: c.MaxRetryAfter.D(),
		budget:        budget,
		backoff:       retry.Backoff{Base: c.BackoffBase.D(), Max: c.BackoffMax.D()},
	}
}

// verdict is how one attempt ended, as the retry loop sees it.
type verdict struct {
	done       bool // the answer went to the app: nothing more to do
	success    bool // for the breaker: the target did its job (client errors included)
	retryable  bool
	retryAfter time.Duration // the upstream's Retry-After, when hasRA
	hasRA      bool
	throttled  bool // the target refused with a throttle (429): it is busy, not broken
}

// loopEnd tells why the loop stopped without an answer going to the app.
type loopEnd struct {
	sawOpen   bool // a breaker refused a request
	budgetOut bool // the retry budget refused a retry
}

// retryLoop is the one retry loop of model endpoints and retrieval backends. It runs attempts at
// n places (targets in the order to try; a backend is one place), moving to the next place after
// each attempt and skipping those whose breaker refuses, within the attempt cap, the retry budget
// and ctx's deadline. Between attempts it waits the backoff, or the upstream's Retry-After when
// there is no other place to go (honoured up to maxRetryAfter; beyond, or past the deadline, it
// stops rather than sleep in vain). try runs attempt number attempt at place i. It reports done
// when an attempt answered the app; otherwise the caller answers its last failure.
func (g *Guard) retryLoop(ctx context.Context, p retryPolicy, n int, breakerAt func(i int) *breaker.Breaker,
	try func(attempt, i int) verdict) (end loopEnd, done bool) {
	next, prev := 0, -1
	var last verdict
	for attempt := 1; attempt <= p.maxAttempts; attempt++ {
		// Failover: a throttle says "not here, not now", and the next place has not seen this
		// request. It goes there at once and outside the retry budget, which guards against retry
		// storms on a failing target; the attempt cap and each target's breaker still bound it (a
		// target that keeps throttling opens its breaker and gets no first attempts).
		failover := attempt > 1 && last.throttled && nextPlace(n, next, breakerAt) != prev
		if attempt > 1 && !failover {
			if !p.budget.Allow() {
				end.budgetOut = true
				return end, false
			}
			wait := p.backoff.Delay(attempt-1, g.rand)
			if last.hasRA && n == 1 {
				// Retry-After speaks for the server that sent it; with another target to go to it
				// does not apply, with none it is honoured up to maxRetryAfter.
				if last.retryAfter > p.maxRetryAfter {
					return end, false
				}
				wait = max(wait, last.retryAfter)
			}
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
				return end, false
			}
			if !sleep(ctx, wait) {
				return end, false
			}
		}
		i, ticket, ok, open := admit(n, next, breakerAt)
		end.sawOpen = end.sawOpen || open
		if !ok {
			return end, false
		}
		next, prev = (i+1)%n, i
		last = try(attempt, i)
		ticket.Done(last.success)
		if last.done {
			return end, true
		}
		if !last.retryable {
			return end, false
		}
	}
	return end, false
}

// nextPlace is where admit would go from start as the breakers stand: the first place whose
// breaker is not open (a half-open one with no probe slot left still refuses; admit then moves on).
func nextPlace(n, start int, breakerAt func(i int) *breaker.Breaker) int {
	for k := range n {
		if i := (start + k) % n; breakerAt(i).State() != breaker.Open {
			return i
		}
	}
	return -1
}

// admit returns the first place from start (cycling) whose breaker lets a request through, with
// the breaker's ticket; open reports a refusing breaker on the way.
func admit(n, start int, breakerAt func(i int) *breaker.Breaker) (i int, ticket breaker.Ticket, ok, open bool) {
	for k := range n {
		i = (start + k) % n
		if tk, ok := breakerAt(i).Admit(); ok {
			return i, tk, true, open
		}
		open = true
	}
	return 0, breaker.Ticket{}, false, open
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

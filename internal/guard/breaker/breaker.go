// Package breaker is the guard's per-target circuit breaker.
//
// A target that keeps failing is taken out of rotation for a while so that
// requests fail over (or fail fast) instead of queueing behind timeouts, and
// so that a struggling provider gets room to recover. After OpenDuration a few
// probe requests test the target; it rejoins only when they all succeed.
//
// Failures are counted in a rolling window cut into buckets, so old failures
// age out smoothly and recording a result costs a few integer operations
// under one mutex, with no allocation: an admitted request carries a Ticket,
// a small value, and reports its outcome through it.
package breaker

import (
	"github.com/breakwater-dev/breakwater/internal/guard/window"

	"sync"
	"time"
)

// Settings configures a Breaker. Zero values fall back to safe minimums (see
// New) so a half-filled config never disables the target outright.
type Settings struct {
	Window              time.Duration // rolling failure-rate window (bucketed)
	MinRequests         int           // requests needed in the window before the failure ratio counts
	FailureRatio        float64       // open when failures/requests >= this (0 < r <= 1); <= 0 turns the ratio check off
	ConsecutiveFailures int           // also open after this many failures in a row (0 = off)
	OpenDuration        time.Duration // how long it stays open before letting probes through
	HalfOpenProbes      int           // trial requests allowed at once while half-open; that many successes close it, one failure re-opens
}

// State is the breaker's position.
type State int

const (
	// Closed lets every call through.
	Closed State = iota
	// Open refuses every call until the open duration has passed.
	Open
	// HalfOpen lets a few probe calls through; their outcome closes or reopens the breaker.
	HalfOpen
)

// String returns the name used in metrics and status ("closed", "open",
// "half_open").
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half_open"
	}
	return "unknown"
}

// Breaker is safe for concurrent use.
type Breaker struct {
	s   Settings
	now func() time.Time

	onChange func(from, to State)

	mu          sync.Mutex
	state       State
	generation  uint64 // bumped on every transition so late results of an old state are ignored
	openedAt    time.Time
	window      window.Window // requests (total) and failures (marked) while closed
	consecutive int           // failures in a row while closed
	probes      int           // probes in flight while half-open
	successes   int           // probe successes while half-open
}

type transition struct{ from, to State }

// New returns a closed breaker. now nil means time.Now.
func New(s Settings, now func() time.Time) *Breaker {
	if now == nil {
		now = time.Now
	}
	if s.MinRequests < 1 {
		s.MinRequests = 1
	}
	if s.HalfOpenProbes < 1 {
		s.HalfOpenProbes = 1
	}
	if s.ConsecutiveFailures < 0 {
		s.ConsecutiveFailures = 0
	}
	return &Breaker{s: s, now: now, window: window.New(s.Window, now())}
}

// OnStateChange registers fn to be told of every transition. Set it once,
// before the breaker is used. fn runs outside the breaker's lock (so it may
// call State), which means two quick transitions on different goroutines may
// be reported out of order; the from/to pair of each is still exact.
func (b *Breaker) OnStateChange(fn func(from, to State)) {
	b.mu.Lock()
	b.onChange = fn
	b.mu.Unlock()
}

// State returns the current state, moving Open to HalfOpen if OpenDuration
// has passed, so that a metric read while no traffic flows is not stale.
func (b *Breaker) State() State {
	b.mu.Lock()
	tr, changed := b.maybeHalfOpen()
	st := b.state
	fn := b.onChange
	b.mu.Unlock()
	if changed && fn != nil {
		fn(tr.from, tr.to)
	}
	return st
}

// OpenFor is how long the breaker stays open before it lets a probe through: zero unless it is
// open. The guard tells apps to come back then (Retry-After) instead of retrying into it.
func (b *Breaker) OpenFor() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != Open {
		return 0
	}
	return max(0, b.openedAt.Add(b.s.OpenDuration).Sub(b.now()))
}

// Ticket is one admitted request's pass through a Breaker: a small value, so
// admitting a request allocates nothing. The zero Ticket does nothing.
type Ticket struct {
	b    *Breaker
	gen  uint64 // the generation the request was admitted in
	done bool   // guarded by b.mu
}

// Done records the outcome of the admitted request. Call it exactly once;
// later calls on the same Ticket, from any goroutine, are ignored. A copy of
// a Ticket is a second ticket for the same request, so do not call Done on
// copies.
func (t *Ticket) Done(success bool) {
	b := t.b
	if b == nil {
		return
	}
	b.mu.Lock()
	if t.done {
		b.mu.Unlock()
		return
	}
	t.done = true
	tr, changed := b.record(t.gen, success)
	fn := b.onChange
	b.mu.Unlock()
	if changed && fn != nil {
		fn(tr.from, tr.to)
	}
}

// Admit asks whether a request may go to the target. ok=false means fail
// fast (or fail over) and the Ticket is zero. When ok, the Ticket's Done must
// be called exactly once with the outcome.
func (b *Breaker) Admit() (t Ticket, ok bool) {
	b.mu.Lock()
	tr, changed := b.maybeHalfOpen()
	switch b.state {
	case Open:
		ok = false
	case HalfOpen:
		ok = b.probes < b.s.HalfOpenProbes
		if ok {
			b.probes++
		}
	default:
		ok = true
	}
	gen := b.generation
	fn := b.onChange
	b.mu.Unlock()
	if changed && fn != nil {
		fn(tr.from, tr.to)
	}
	if !ok {
		return Ticket{}, false
	}
	return Ticket{b: b, gen: gen}, true
}

// record applies one outcome allowed in generation gen. Callers hold b.mu.
func (b *Breaker) record(gen uint64, success bool) (transition, bool) {
	if gen != b.generation {
		// Allowed under an earlier state: a request that started before the
		// breaker opened says nothing about the target's health now.
		return transition{}, false
	}
	switch b.state {
	case Closed:
		if success {
			b.window.Add(b.now(), 1, 0)
			b.consecutive = 0
			return transition{}, false
		}
		b.window.Add(b.now(), 1, 1)
		b.consecutive++
		if b.shouldTrip() {
			return b.moveTo(Open), true
		}
	case HalfOpen:
		b.probes--
		if !success {
			return b.moveTo(Open), true
		}
		b.successes++
		if b.successes >= b.s.HalfOpenProbes {
			return b.moveTo(Closed), true
		}
	}
	return transition{}, false
}

func (b *Breaker) shouldTrip() bool {
	if b.s.ConsecutiveFailures > 0 && b.consecutive >= b.s.ConsecutiveFailures {
		return true
	}
	if b.s.FailureRatio <= 0 {
		return false
	}
	requests, failures := b.window.Sums(b.now())
	return requests >= int64(b.s.MinRequests) && float64(failures) >= b.s.FailureRatio*float64(requests)
}

// maybeHalfOpen lets probes through once the open period is over. Callers
// hold b.mu.
func (b *Breaker) maybeHalfOpen() (transition, bool) {
	if b.state == Open && !b.now().Before(b.openedAt.Add(b.s.OpenDuration)) {
		return b.moveTo(HalfOpen), true
	}
	return transition{}, false
}

// moveTo changes state and resets what the new state counts. Callers hold
// b.mu.
func (b *Breaker) moveTo(to State) transition {
	tr := transition{from: b.state, to: to}
	b.state = to
	b.generation++
	b.probes = 0
	b.successes = 0
	b.consecutive = 0
	switch to {
	case Open:
		b.openedAt = b.now()
	case Closed:
		// Start afresh: the failures that opened the breaker must not
		// re-open it on the first new failure.
		b.window.Reset()
	}
	return tr
}

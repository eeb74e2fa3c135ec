package breaker

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var base = Settings{
	Window:              10 * time.Second,
	MinRequests:         10,
	FailureRatio:        0.5,
	ConsecutiveFailures: 0,
	OpenDuration:        5 * time.Second,
	HalfOpenProbes:      2,
}

// step is one action of a scripted scenario.
type step struct {
	advance time.Duration // move the fake clock first
	ok      int           // requests that succeed
	fail    int           // requests that fail
	want    State         // state after the step
	wantOK  bool          // whether the last Admit of the step was granted (checked when ok+fail > 0)
}

func run(t *testing.T, b *Breaker, c *fakeClock, steps []step) {
	t.Helper()
	for i, s := range steps {
		c.add(s.advance)
		granted := true
		for range s.ok {
			done, ok := b.Admit()
			granted = ok
			if ok {
				done.Done(true)
			}
		}
		for range s.fail {
			done, ok := b.Admit()
			granted = ok
			if ok {
				done.Done(false)
			}
		}
		if got := b.State(); got != s.want {
			t.Fatalf("step %d: state %v, want %v", i, got, s.want)
		}
		if s.ok+s.fail > 0 && granted != s.wantOK {
			t.Fatalf("step %d: last Admit ok=%v, want %v", i, granted, s.wantOK)
		}
	}
}

func TestTransitions(t *testing.T) {
	consecutive := base
	consecutive.ConsecutiveFailures = 3
	ratioOff := consecutive
	ratioOff.FailureRatio = 0
	oneProbe := base
	oneProbe.HalfOpenProbes = 1

	tests := []struct {
		name     string
		settings Settings
		steps    []step
		want     []string // transitions reported to OnStateChange
	}{
		{
			name:     "stays closed below min requests",
			settings: base,
			steps:    []step{{fail: 9, want: Closed, wantOK: true}},
		},
		{
			name:     "opens at failure ratio once min requests reached",
			settings: base,
			steps: []step{
				{ok: 5, fail: 4, want: Closed, wantOK: true},
				{fail: 1, want: Open, wantOK: true},
				{ok: 1, want: Open, wantOK: false},
			},
			want: []string{"closed->open"},
		},
		{
			name:     "ratio below threshold stays closed",
			settings: base,
			steps:    []step{{ok: 60, fail: 40, want: Closed, wantOK: true}},
		},
		{
			name:     "consecutive failures open before min requests",
			settings: consecutive,
			steps: []step{
				{fail: 2, want: Closed, wantOK: true},
				{fail: 1, want: Open, wantOK: true},
			},
			want: []string{"closed->open"},
		},
		{
			name:     "a success resets the consecutive count",
			settings: ratioOff,
			steps: []step{
				{fail: 2, want: Closed, wantOK: true},
				{ok: 1, want: Closed, wantOK: true},
				{fail: 2, want: Closed, wantOK: true},
				{fail: 1, want: Open, wantOK: true},
			},
			want: []string{"closed->open"},
		},
		{
			name:     "failures age out of the window",
			settings: base,
			steps: []step{
				{fail: 9, want: Closed, wantOK: true},
				{advance: 10 * time.Second, ok: 9, want: Closed, wantOK: true},
				// The 9 old failures have left the window: 1 of 10 fails.
				{fail: 1, want: Closed, wantOK: true},
			},
		},
		{
			name:     "failures within the window still count",
			settings: base,
			steps: []step{
				{fail: 9, want: Closed, wantOK: true},
				{advance: 8 * time.Second, fail: 1, want: Open, wantOK: true},
			},
			want: []string{"closed->open"},
		},
		{
			name:     "open becomes half-open after open duration",
			settings: base,
			steps: []step{
				{fail: 10, want: Open, wantOK: true},
				{advance: 4999 * time.Millisecond, want: Open},
				{advance: time.Millisecond, want: HalfOpen},
			},
			want: []string{"closed->open", "open->half_open"},
		},
		{
			name:     "probe successes close",
			settings: base,
			steps: []step{
				{fail: 10, want: Open, wantOK: true},
				{advance: 5 * time.Second, ok: 1, want: HalfOpen, wantOK: true},
				{ok: 1, want: Closed, wantOK: true},
				// Closed afresh: one failure does not re-open on the old window.
				{fail: 1, want: Closed, wantOK: true},
			},
			want: []string{"closed->open", "open->half_open", "half_open->closed"},
		},
		{
			name:     "probe failure re-opens and restarts the timer",
			settings: base,
			steps: []step{
				{fail: 10, want: Open, wantOK: true},
				{advance: 5 * time.Second, ok: 1, want: HalfOpen, wantOK: true},
				{advance: time.Second, fail: 1, want: Open, wantOK: true},
				{advance: 4 * time.Second, ok: 1, want: Open, wantOK: false},
				{advance: time.Second, ok: 1, want: HalfOpen, wantOK: true},
			},
			want: []string{"closed->open", "open->half_open", "half_open->open", "open->half_open"},
		},
		{
			name:     "single probe closes",
			settings: oneProbe,
			steps: []step{
				{fail: 10, want: Open, wantOK: true},
				{advance: 5 * time.Second, ok: 1, want: Closed, wantOK: true},
			},
			want: []string{"closed->open", "open->half_open", "half_open->closed"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			b := New(tc.settings, c.now)
			var got []string
			b.OnStateChange(func(from, to State) { got = append(got, from.String()+"->"+to.String()) })
			run(t, b, c, tc.steps)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("transitions mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHalfOpenLimitsConcurrentProbes(t *testing.T) {
	c := newClock()
	b := New(base, c.now)
	for range 10 {
		done, _ := b.Admit()
		done.Done(false)
	}
	c.add(base.OpenDuration)
	d1, ok1 := b.Admit()
	d2, ok2 := b.Admit()
	_, ok3 := b.Admit()
	if diff := cmp.Diff([]bool{true, true, false}, []bool{ok1, ok2, ok3}); diff != "" {
		t.Fatalf("probe admission mismatch (-want +got):\n%s", diff)
	}
	d1.Done(true)
	// One probe finished: a slot is free again, but the breaker stays
	// half-open until HalfOpenProbes successes.
	d4, ok4 := b.Admit()
	if !ok4 || b.State() != HalfOpen {
		t.Fatalf("after one success: ok=%v state=%v, want true half_open", ok4, b.State())
	}
	d2.Done(true)
	if b.State() != Closed {
		t.Fatalf("after two successes: state %v, want closed", b.State())
	}
	// The third probe finishing late belongs to the half-open generation and
	// must not disturb the closed breaker.
	d4.Done(false)
	if b.State() != Closed {
		t.Fatalf("late probe failure changed state to %v", b.State())
	}
}

func TestLateResultsOfOldStateIgnored(t *testing.T) {
	c := newClock()
	s := base
	s.ConsecutiveFailures = 1
	b := New(s, c.now)
	slow, ok := b.Admit() // started while closed, finishes much later
	if !ok {
		t.Fatal("closed breaker refused")
	}
	done, _ := b.Admit()
	done.Done(false) // opens
	c.add(s.OpenDuration)
	probe, ok := b.Admit()
	if !ok || b.State() != HalfOpen {
		t.Fatalf("probe not admitted: ok=%v state=%v", ok, b.State())
	}
	slow.Done(false) // must neither count as a probe failure nor free a probe slot
	if b.State() != HalfOpen {
		t.Fatalf("late closed-state failure moved breaker to %v", b.State())
	}
	probe.Done(true)
	probe.Done(false) // a second call is ignored
	done2, _ := b.Admit()
	done2.Done(true)
	if b.State() != Closed {
		t.Fatalf("state %v, want closed", b.State())
	}
}

func TestZeroSettingsAreUsable(t *testing.T) {
	c := newClock()
	b := New(Settings{}, c.now)
	done, ok := b.Admit()
	if !ok {
		t.Fatal("zero-settings breaker refused a request")
	}
	done.Done(true)
	if got := b.State(); got != Closed {
		t.Fatalf("state %v, want closed", got)
	}
}

func TestStateString(t *testing.T) {
	got := []string{Closed.String(), Open.String(), HalfOpen.String(), State(9).String()}
	if diff := cmp.Diff([]string{"closed", "open", "half_open", "unknown"}, got); diff != "" {
		t.Error(diff)
	}
}

// TestConcurrent hammers one breaker from many goroutines while the clock
// moves; run with -race. It checks the invariants that must hold whatever
// the interleaving: never more probes in flight than allowed, and every
// reported transition is a legal one.
func TestConcurrent(t *testing.T) {
	c := newClock()
	s := base
	s.ConsecutiveFailures = 5
	s.HalfOpenProbes = 3
	b := New(s, c.now)
	legal := map[[2]State]bool{
		{Closed, Open}: true, {Open, HalfOpen}: true, {HalfOpen, Closed}: true, {HalfOpen, Open}: true,
	}
	var illegal, transitions atomic.Int64
	b.OnStateChange(func(from, to State) {
		transitions.Add(1)
		if !legal[[2]State{from, to}] {
			illegal.Add(1)
		}
	})
	var inFlightProbes, maxProbes atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				if g == 0 && i%50 == 0 {
					c.add(time.Second)
				}
				done, ok := b.Admit()
				if !ok {
					continue
				}
				probe := b.State() == HalfOpen
				if probe {
					n := inFlightProbes.Add(1)
					for {
						m := maxProbes.Load()
						if n <= m || maxProbes.CompareAndSwap(m, n) {
							break
						}
					}
					inFlightProbes.Add(-1)
				}
				done.Done(i%200 < 100) // long runs of failures, then of successes
			}
		}()
	}
	wg.Wait()
	if illegal.Load() != 0 {
		t.Fatalf("%d illegal transitions", illegal.Load())
	}
	if transitions.Load() == 0 {
		t.Fatal("no transitions happened; the test exercises nothing")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.probes < 0 || b.probes > s.HalfOpenProbes {
		t.Fatalf("probes in flight %d, want within [0,%d]", b.probes, s.HalfOpenProbes)
	}
}

func TestTicket(t *testing.T) {
	c := newClock()
	s := base
	s.ConsecutiveFailures = 2
	b := New(s, c.now)
	var zero Ticket
	zero.Done(false) // the zero Ticket does nothing
	tk, ok := b.Admit()
	if !ok {
		t.Fatal("closed breaker refused")
	}
	tk.Done(false)
	tk.Done(false) // ignored: one request, one failure
	if got := b.State(); got != Closed {
		t.Fatalf("state %v after one failure reported twice, want closed", got)
	}
	tk, _ = b.Admit()
	tk.Done(true) // resets the consecutive failures
	// Two goroutines finishing the same ticket still count one outcome.
	tk, _ = b.Admit()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { tk.Done(false) })
	}
	wg.Wait()
	if got := b.State(); got != Closed {
		t.Fatalf("state %v after one failure reported twice at once, want closed", got)
	}
	tk, _ = b.Admit()
	tk.Done(true) // resets the consecutive failures
	if n := testing.AllocsPerRun(100, func() {
		tk, ok := b.Admit()
		if ok {
			tk.Done(true)
		}
	}); n != 0 {
		t.Errorf("Admit and Done allocate %v times, want 0", n)
	}
}

// BenchmarkAdmitDone is a closed breaker admitting a request and recording
// its success through the Ticket.
func BenchmarkAdmitDone(b *testing.B) {
	br := New(base, time.Now)
	b.ReportAllocs()
	for b.Loop() {
		tk, ok := br.Admit()
		if ok {
			tk.Done(true)
		}
	}
}

func BenchmarkAdmitDoneParallel(b *testing.B) {
	br := New(base, time.Now)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tk, ok := br.Admit()
			if ok {
				tk.Done(true)
			}
		}
	})
}

func TestOpenFor(t *testing.T) {
	c := newClock()
	b := New(base, c.now)
	if got := b.OpenFor(); got != 0 {
		t.Fatalf("closed: OpenFor = %v, want 0", got)
	}
	for range 10 {
		done, _ := b.Admit()
		done.Done(false)
	}
	c.add(base.OpenDuration / 4)
	if got, want := b.OpenFor(), base.OpenDuration*3/4; got != want {
		t.Errorf("open a quarter of its duration ago: OpenFor = %v, want %v", got, want)
	}
	c.add(base.OpenDuration)
	if got := b.OpenFor(); got != 0 {
		t.Errorf("past its open duration: OpenFor = %v, want 0", got)
	}
}

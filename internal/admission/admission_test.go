package admission_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/breakwater-dev/breakwater/internal/admission"
	"github.com/breakwater-dev/breakwater/test/redistest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newStore(t *testing.T, c *clock) *admission.Store {
	addr := redistest.Start(t)
	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{addr}, MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	return admission.NewStore(client, time.Second, c.now)
}

func quota(key string, tpm int64) admission.Quota {
	return admission.Quota{Key: key, Namespace: "team-a", TokensPerMinute: tpm, ShedPercent: 90, HardPercent: 100, CriticalReservePercent: 10}
}

// The window admits at most the limit within any 60 s and refills as slots age out.
func TestWindowAdmitsTheLimitAndSlides(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	s := newStore(t, c)
	ctx := context.Background()
	q := []admission.Quota{quota("tpm", 1000)}
	admitted := 0
	for i := 0; i < 300; i++ {
		d, err := s.Reserve(ctx, admission.Critical, 10, q)
		if err != nil {
			t.Fatal(err)
		}
		if d.Admitted {
			admitted++
		}
		c.add(100 * time.Millisecond) // 30 s in all
	}
	if admitted != 100 {
		t.Fatalf("admitted %d requests of 10 tokens against 1000 tokens/min within 30 s, want 100", admitted)
	}
	c.add(62 * time.Second)
	if d, err := s.Reserve(ctx, admission.Critical, 1000, q); err != nil || !d.Admitted {
		t.Fatalf("after the window slid: %+v, %v; want admitted", d, err)
	}
}

// A window of standard traffic only slides too (the critical counters of its slots are absent).
func TestStandardOnlyWindowSlides(t *testing.T) {
	c := &clock{t: time.Unix(1_500_000, 0)}
	s := newStore(t, c)
	q := []admission.Quota{quota("tpm", 1000)}
	for i := range 200 {
		if _, err := s.Reserve(context.Background(), admission.Standard, 10, q); err != nil {
			t.Fatalf("reservation %d at %s: %v", i, c.now(), err)
		}
		c.add(time.Second)
	}
}

// Settling gives back unused tokens; a request that never reached a provider gives back its request.
func TestSettleReturnsUnusedTokens(t *testing.T) {
	c := &clock{t: time.Unix(2_000_000, 0)}
	s := newStore(t, c)
	ctx := context.Background()
	q := []admission.Quota{quota("tpm", 1000)}
	d, err := s.Reserve(ctx, admission.Critical, 1000, q)
	if err != nil || !d.Admitted {
		t.Fatalf("%+v %v", d, err)
	}
	if d2, _ := s.Reserve(ctx, admission.Critical, 1, q); d2.Admitted {
		t.Fatal("admitted above the limit")
	}
	if err := s.Settle(ctx, d, admission.Critical, 1000, 400, true, q); err != nil {
		t.Fatal(err)
	}
	if d2, _ := s.Reserve(ctx, admission.Critical, 600, q); !d2.Admitted {
		t.Fatal("the 600 tokens given back by the settle were not admitted")
	}
}

// Sheddable stops at the shed threshold minus the critical reserve, standard at the hard limit minus
// the reserve, critical at the hard limit; every quota of a request is checked, and a refusal takes
// from none.
func TestCriticalityOrderAndAllQuotas(t *testing.T) {
	c := &clock{t: time.Unix(3_000_000, 0)}
	s := newStore(t, c)
	ctx := context.Background()
	q := []admission.Quota{quota("tpm", 1000)}
	take := func(class admission.Class, n int64) admission.Decision {
		t.Helper()
		d, err := s.Reserve(ctx, class, n, q)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := take(admission.Sheddable, 800); !d.Admitted { // 800 + reserve 100 <= 900
		t.Fatalf("sheddable 800: %+v", d)
	}
	if d := take(admission.Sheddable, 1); d.Admitted || d.Reason != admission.ReasonShed {
		t.Fatalf("sheddable past the shed threshold: %+v, want refused %s", d, admission.ReasonShed)
	}
	if d := take(admission.Standard, 100); !d.Admitted { // 900 + 100 reserve <= 1000
		t.Fatalf("standard 100: %+v", d)
	}
	if d := take(admission.Standard, 1); d.Admitted || d.Reason != admission.ReasonExhausted {
		t.Fatalf("standard into the critical reserve: %+v", d)
	}
	if d := take(admission.Critical, 100); !d.Admitted {
		t.Fatalf("critical within its reserve: %+v", d)
	}
	if d := take(admission.Critical, 1); d.Admitted || d.Quota != "tpm" {
		t.Fatalf("two quotas, the first full: %+v", d)
	}
	d, err := s.Reserve(ctx, admission.Critical, 1, []admission.Quota{quota("other", 1_000_000), quota("tpm", 1000)})
	if err != nil || d.Admitted || d.Quota != "tpm" {
		t.Fatalf("two quotas, the second full: %+v %v", d, err)
	}
	d, err = s.Reserve(ctx, admission.Critical, 999_999, []admission.Quota{quota("other", 1_000_000)})
	if err != nil || !d.Admitted {
		t.Fatalf("the refused request took from the other quota: %+v %v", d, err)
	}
}

// Inspect reads the learned share and the window without changing them.
func TestInspect(t *testing.T) {
	c := &clock{t: time.Unix(7_000_000, 0)}
	s := newStore(t, c)
	ctx := context.Background()
	q := quota("tpm", 1000)
	if st, err := s.Inspect(ctx, q); err != nil || st != (admission.Standing{Share: admission.FullShare}) {
		t.Fatalf("an unknown quota: %+v %v", st, err)
	}
	for range 3 {
		if _, err := s.Reserve(ctx, admission.Standard, 100, []admission.Quota{q}); err != nil {
			t.Fatal(err)
		}
		c.add(20 * time.Second)
	}
	if _, err := s.Throttled(ctx, []admission.Quota{q}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Inspect(ctx, q)
	if err != nil || st != (admission.Standing{Share: 270_000, Tokens: 300, Requests: 3}) {
		t.Fatalf("after 3 reservations of 100 and a throttle: %+v %v", st, err)
	}
	c.add(25 * time.Second) // the first two reservations leave the window
	if st, _ := s.Inspect(ctx, q); st.Tokens != 100 || st.Requests != 1 || st.Share != 270_000+25*500 {
		t.Fatalf("25 s later: %+v", st)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// Non-critical traffic leaves critical traffic its pace of the last seconds, scaled to a minute:
// a critical burst is protected before the window shows it.
func TestCriticalPaceIsKeptFree(t *testing.T) {
	c := &clock{t: time.Unix(8_000_000, 0)}
	s := newStore(t, c)
	ctx := context.Background()
	q := []admission.Quota{quota("tpm", 1000)}
	take := func(class admission.Class, n int64) bool {
		t.Helper()
		d, err := s.Reserve(ctx, class, n, q)
		if err != nil {
			t.Fatal(err)
		}
		return d.Admitted
	}
	if !take(admission.Critical, 10) {
		t.Fatal("critical 10 refused")
	}
	c.add(15 * time.Second)
	if !take(admission.Critical, 50) { // pace: 50 in 10 s, 300 a minute
		t.Fatal("critical 50 refused")
	}
	if !take(admission.Standard, 600) || take(admission.Standard, 1) { // non-critical 600 + critical's 300 a minute + the reserve
		t.Fatal("standard did not stop at the limit minus critical's pace")
	}
	if !take(admission.Critical, 240) {
		t.Fatal("critical refused within its pace")
	}
	c.add(11 * time.Second) // the pace is over; the window still holds critical's 300
	if take(admission.Standard, 1) {
		t.Fatal("standard admitted into critical's spend of the window")
	}
}

// A critical stream that has just begun is paced from the seconds it has run.
func TestNewCriticalStreamIsPacedFromItsStart(t *testing.T) {
	c := &clock{t: time.Unix(9_000_000, 0)}
	s := newStore(t, c)
	ctx := context.Background()
	q := []admission.Quota{quota("tpm", 10_000)}
	for range 4 { // 100 a second for 4 s, paced over the 5 s up to now: 4800 a minute
		if d, err := s.Reserve(ctx, admission.Critical, 100, q); err != nil || !d.Admitted {
			t.Fatalf("%+v %v", d, err)
		}
		c.add(time.Second)
	}
	if d, _ := s.Reserve(ctx, admission.Standard, 4201, q); d.Admitted {
		t.Fatal("standard took room a new critical stream of 4800 a minute (and the reserve of 1000) needs")
	}
	if d, _ := s.Reserve(ctx, admission.Standard, 4200, q); !d.Admitted {
		t.Fatalf("standard refused below the limit minus the critical stream: %+v", d)
	}
}

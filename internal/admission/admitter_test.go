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

// A throttle from the provider lowers the learned share to 90 % of the used share, at most once per
// cooldown, and the share climbs back to the configured limit by 3 % of it per minute.
func TestThrottleLearnsTheLimitAndRecovers(t *testing.T) {
	c := &clock{t: time.Unix(4_000_000, 0)}
	s := newStore(t, c)
	ctx := context.Background()
	q := []admission.Quota{quota("tpm", 1000)}
	if d, err := s.Reserve(ctx, admission.Critical, 600, q); err != nil || !d.Admitted || d.Shares[0] != admission.FullShare {
		t.Fatalf("%+v %v", d, err)
	}
	shares, err := s.Throttled(ctx, q)
	if err != nil || shares[0] != 540_000 {
		t.Fatalf("share after a throttle at 600 of 1000 used: %v %v, want 540000", shares, err)
	}
	if shares, _ := s.Throttled(ctx, q); shares[0] != 540_000 {
		t.Fatalf("a second throttle within the cooldown moved the share to %v", shares)
	}
	if d, _ := s.Reserve(ctx, admission.Critical, 1, q); d.Admitted || d.Shares[0] != 540_000 {
		t.Fatalf("admitted above the learned limit: %+v", d)
	}
	c.add(62 * time.Second)
	d, err := s.Reserve(ctx, admission.Critical, 560, q)
	if err != nil || !d.Admitted || d.Shares[0] != 540_000+62*500 {
		t.Fatalf("after a minute: %+v %v, want admitted with share %d", d, err, 540_000+62*500)
	}
	if d, _ := s.Reserve(ctx, admission.Critical, 20, q); d.Admitted {
		t.Fatalf("admitted above the learned limit after a minute: %+v", d)
	}
	t.Logf("learned share %d ppm after a throttle at 60 %% use, %d a minute later", 540_000, d.Shares[0])
	c.add(17 * time.Minute)
	if d, _ := s.Reserve(ctx, admission.Critical, 1000, q); !d.Admitted || d.Shares[0] != admission.FullShare {
		t.Fatalf("17 minutes later the share is not back to the configured limit: %+v", d)
	}
}

// Add books spend without checking it: what guards admitted on their own share while the store was
// away; and, when the store lost the quota's key since the guard last saw it, the guard's share
// of the fleet's spend too.
func TestAddCountsWithoutChecking(t *testing.T) {
	c := &clock{t: time.Unix(5_000_000, 0)}
	addr := redistest.Start(t)
	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{addr}})
	t.Cleanup(func() { client.Close() })
	s := admission.NewStore(client, time.Second, c.now)
	ctx := context.Background()
	q := []admission.Quota{quota("tpm", 1000)}
	d, err := s.Reserve(ctx, admission.Critical, 100, q)
	if err != nil || d.Epochs[0] == 0 {
		t.Fatalf("%+v %v", d, err)
	}
	epoch := d.Epochs[0]
	if err := s.Add(ctx, admission.Replay{Tokens: 2000, Requests: 3, Epoch: epoch, SeedTokens: 50}, q[0]); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Reserve(ctx, admission.Critical, 1, q); d.Admitted || d.Used[0] != 2100 {
		t.Fatalf("after adding 2000 tokens against 1000 to the same key: %+v, want refused with 2100 used (no seed)", d)
	}
	if err := client.FlushAll(ctx).Err(); err != nil { // the store restarted empty
		t.Fatal(err)
	}
	c.add(time.Second)
	for range 2 { // two guards come back, each with its share of the 2100 it last saw
		if err := s.Add(ctx, admission.Replay{Tokens: 10, Requests: 1, Epoch: epoch, SeedTokens: 1050}, q[0]); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := s.Inspect(ctx, q[0]); st.Tokens != 2120 {
		t.Fatalf("after the store lost the key, two replays with seeds of 1050: %+v, want 2120 tokens", st)
	}
}

// Without a store, and for a quota enforced locally, each guard enforces limit / guards.
func TestLocalShare(t *testing.T) {
	c := &clock{t: time.Unix(6_000_000, 0)}
	a := admission.NewAdmitter(nil, nil, c.now)
	defer a.Close()
	q := quota("tpm", 1000)
	q.Guards = 4
	admitted := 0
	for i := 0; i < 10; i++ {
		tk := a.Reserve(context.Background(), admission.Critical, 50, []admission.Quota{q})
		if tk.Mode != admission.Local {
			t.Fatalf("mode %s without a store", tk.Mode)
		}
		if tk.Admitted {
			admitted++
			if i == 0 {
				a.Settle(tk, 0, false) // never sent: gives everything back
			}
		}
	}
	if admitted != 6 {
		t.Fatalf("admitted %d of 50 tokens against 1000/4 guards with one given back, want 6", admitted)
	}
	sh := q
	sh.Key, sh.Enforcement = "sheddable", admission.Local
	if tk := a.Reserve(context.Background(), admission.Sheddable, 250, []admission.Quota{sh}); tk.Admitted || tk.Reason != admission.ReasonShed {
		t.Fatalf("sheddable at the whole local share: %+v", tk)
	}
}

type recorder struct {
	mu      sync.Mutex
	up      []bool
	calls   int
	slowest time.Duration
	shares  map[string]int64
	dropped int
}

func (r *recorder) StoreAvailable(up bool, _ error) {
	r.mu.Lock()
	r.up = append(r.up, up)
	r.mu.Unlock()
}
func (r *recorder) StoreCall(d time.Duration, _ error) {
	r.mu.Lock()
	r.calls++
	r.slowest = max(r.slowest, d)
	r.mu.Unlock()
}
func (r *recorder) Share(q string, s int64) { r.mu.Lock(); r.shares[q] = s; r.mu.Unlock() }
func (r *recorder) SettleDropped()          { r.mu.Lock(); r.dropped++; r.mu.Unlock() }

// The store killed: reservations are decided on the guard's share of what the fleet had left, none
// waits on the store, and the store back takes over again with what the guard admitted meanwhile.
func TestStoreFailureFallsBackToTheLocalShareAndRecovers(t *testing.T) {
	srv := redistest.StartServer(t)
	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{srv.Addr}, MaxRetries: -1,
		ContextTimeoutEnabled: true, DialTimeout: 50 * time.Millisecond})
	t.Cleanup(func() { client.Close() })
	store := admission.NewStore(client, 20*time.Millisecond, nil)
	rec := &recorder{shares: map[string]int64{}}
	a := admission.NewAdmitter(store, rec, nil)
	defer a.Close()
	ctx := context.Background()
	q := quota("tpm", 10_000)
	q.Guards = 2
	qs := []admission.Quota{q}

	tk := a.Reserve(ctx, admission.Critical, 1000, qs)
	if !tk.Admitted || tk.Mode != admission.Shared {
		t.Fatalf("store up: %+v", tk)
	}
	a.Settle(tk, 1000, true)

	srv.Kill()
	tk = a.Reserve(ctx, admission.Critical, 4500, qs) // the local share: 10000/2 - 1000/2 used
	if !tk.Admitted || tk.Mode != admission.Local {
		t.Fatalf("store down, within the local share: %+v", tk)
	}
	if tk := a.Reserve(ctx, admission.Critical, 1, qs); tk.Admitted || tk.Mode != admission.Local {
		t.Fatalf("store down, above the local share: %+v", tk)
	}
	rec.mu.Lock()
	if len(rec.up) != 1 || rec.up[0] {
		t.Fatalf("availability reports %v, want [false]", rec.up)
	}
	rec.mu.Unlock()

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		tk = a.Reserve(ctx, admission.Critical, 1, qs)
		if tk.Mode == admission.Shared {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store back did not take over: %+v", tk)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The restarted store is empty; the guard adds the 4500 tokens it admitted on its own.
	for {
		d, err := store.Reserve(ctx, admission.Critical, 0, qs)
		if err == nil && d.Used[0] >= 4501 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store never got the spend admitted locally: %+v %v", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.up) != 2 || !rec.up[1] {
		t.Fatalf("availability reports %v, want [false true]", rec.up)
	}
	t.Logf("%d store calls, the slowest %s against a 20ms timeout", rec.calls, rec.slowest)
}

// Settles go out asynchronously and move the store's window to the reported usage.
func TestAdmitterSettlesAsynchronously(t *testing.T) {
	addr := redistest.Start(t)
	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{addr}, MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { client.Close() })
	store := admission.NewStore(client, time.Second, nil)
	a := admission.NewAdmitter(store, nil, nil)
	q := []admission.Quota{quota("tpm", 10_000)}
	for i := 0; i < 100; i++ {
		tk := a.Reserve(context.Background(), admission.Standard, 90, q)
		if !tk.Admitted {
			t.Fatalf("request %d refused: %+v", i, tk)
		}
		a.Settle(tk, 10, true)
	}
	a.Close() // sends what is queued
	d, err := store.Reserve(context.Background(), admission.Critical, 0, q)
	if err != nil || d.Used[0] != 1000 {
		t.Fatalf("window after 100 reservations of 90 settled at 10: %+v %v, want 1000 used", d, err)
	}
}

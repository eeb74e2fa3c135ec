// Package admission_test runs fleet-wide admission as it runs in a cluster (test/fleet): 10 guard
// processes of three workloads of different criticality share a TokenQuota's budget in a real
// Redis (Debian's redis-server), in front of the upstream simulator's provider quota, at 3 times
// the quota's demand.
package admission_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/breakwater-dev/breakwater/internal/admission"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/test/fleet"
	"github.com/breakwater-dev/breakwater/test/redistest"
)

var guardBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "breakwater-admission-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if guardBin, err = fleet.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// Longer than production's 10ms: these machines are shared, and a starved guard falling back to
// its local share would refuse critical traffic the tests expect served.
const storeTimeout = 200 * time.Millisecond

const tokenQuota = fleet.DefaultTokenQuota

type fleetRun struct {
	t     *testing.T
	f     *fleet.Fleet
	redis *redistest.Server
	rdb   redis.UniversalClient
}

// start starts Redis and the fleet sharing the quota in it, with a provider quota of providerTPM.
func start(t *testing.T, providerTPM int64) *fleetRun {
	t.Helper()
	r := &fleetRun{t: t, redis: redistest.StartServer(t)}
	r.rdb = redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{r.redis.Addr}})
	t.Cleanup(func() { r.rdb.Close() })
	f, err := fleet.Start(fleet.Options{Bin: guardBin, Dir: t.TempDir(), ProviderTPM: providerTPM,
		Enforcement: guardconfig.EnforcementShared, StoreAddr: r.redis.Addr, StoreTimeout: storeTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	r.f = f
	return r
}

func report(t *testing.T, tl *fleet.Tally) {
	for _, line := range tl.Report() {
		t.Log(line)
	}
}

// At 3 times the quota, with the TokenQuota equal to the provider's limit: the provider never
// throttles, critical traffic (whose own demand fits) is served throughout, and sheddable traffic
// is refused first.
func TestFleetAtThreeTimesTheQuota(t *testing.T) {
	t.Parallel()
	r := start(t, tokenQuota)
	tl := fleet.NewTally()
	ctx, cancel := context.WithTimeout(context.Background(), 70*time.Second)
	defer cancel()
	r.f.Drive(ctx, tl)
	report(t, tl)
	st := r.f.Sim.Stats()
	peak := r.f.Sim.QuotaPeak()
	t.Logf("provider: %d throttles, the most its rolling minute held %d of %d tokens (%.3f of the limit), %d input + %d output tokens served",
		st.QuotaThrottled, peak, tokenQuota, float64(peak)/tokenQuota, st.InputTokens, st.OutputTokens)
	if st.QuotaThrottled != 0 {
		t.Errorf("the provider throttled %d requests; want none with the TokenQuota at its limit", st.QuotaThrottled)
	}
	if n := tl.Total(tl.Other); n != 0 {
		t.Errorf("%d answers were neither served nor refused by admission", n)
	}
	tl.Lock()
	defer tl.Unlock()
	if c := guardconfig.Critical; tl.OK[c] != tl.Sent[c] {
		t.Errorf("critical: %d of %d served; want all (their demand, 36000 tokens/min, fits the quota)", tl.OK[c], tl.Sent[c])
	}
	ratio := func(c guardconfig.Criticality) float64 { return float64(tl.Refused[c]) / float64(max(1, tl.Sent[c])) }
	if !(ratio(guardconfig.Sheddable) > ratio(guardconfig.Standard)) {
		t.Errorf("refused: sheddable %.2f, standard %.2f; want sheddable refused first", ratio(guardconfig.Sheddable), ratio(guardconfig.Standard))
	}
	if served := tl.OK[guardconfig.Critical] + tl.OK[guardconfig.Standard] + tl.OK[guardconfig.Sheddable]; served < 600 {
		t.Errorf("the fleet was served %d requests in 70 s, want at least the quota's 600 a minute", served)
	}
}

// A provider limit at half the TokenQuota's (the account's quota used outside the cluster): the
// first throttles lower the learned share for every guard at once, and after that the provider
// rarely throttles; the learned limit is within 15 % of the hidden one.
func TestFleetLearnsAHiddenProviderLimit(t *testing.T) {
	t.Parallel()
	const hidden = tokenQuota / 2
	r := start(t, hidden)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	r.f.Drive(ctx, fleet.NewTally())
	cancel()
	throttledBefore := r.f.Sim.Stats().QuotaThrottled
	converged := fleet.NewTally()
	ctx, cancel = context.WithTimeout(context.Background(), 55*time.Second)
	defer cancel()
	r.f.Drive(ctx, converged)
	report(t, converged)
	st, err := admission.NewStore(r.rdb, time.Second, nil).Inspect(context.Background(),
		admission.Quota{Key: "team/bedrock", Namespace: "team"})
	if err != nil {
		t.Fatal(err)
	}
	learned := float64(st.Share) / admission.FullShare * tokenQuota
	throttled, sent := converged.Total(converged.Throttled), converged.Total(converged.Sent)
	t.Logf("hidden limit %d tokens/min; learned %.0f (%.1f %% off); %d provider throttles while converging, then %d of %d requests (%.2f %%)",
		hidden, learned, 100*(learned-hidden)/hidden, throttledBefore, throttled, sent, 100*float64(throttled)/float64(sent))
	if throttledBefore == 0 {
		t.Error("the provider never throttled: nothing to learn from")
	}
	if float64(throttled) > 0.02*float64(sent) {
		t.Errorf("%d of %d requests throttled by the provider after convergence, want at most 2 %%", throttled, sent)
	}
	if learned < 0.85*hidden || learned > 1.15*hidden {
		t.Errorf("learned limit %.0f, want within 15 %% of the hidden %d", learned, hidden)
	}
}

// Redis killed mid-run: every guard falls back to its local share at its next request, none waits
// on the store for it, the fleet admits at most limit × (1 + 1/N), and the store back (empty) makes
// the quota shared again with the fleet's spend restored.
func TestFleetSurvivesTheStoreDying(t *testing.T) {
	t.Parallel()
	r := start(t, 2*tokenQuota) // the provider only measures
	tl := fleet.NewTally()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.f.Drive(ctx, tl); close(done) }()
	defer func() { cancel(); <-done }()

	time.Sleep(25 * time.Second)
	r.redis.Kill()
	killed := time.Now()
	r.waitStoreUp(0)
	t.Logf("every guard on its local share %s after Redis died", time.Since(killed).Round(10*time.Millisecond))
	time.Sleep(25 * time.Second)
	if err := r.redis.Restart(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	r.waitStoreUp(1)
	t.Logf("every guard shared again %s after Redis came back", time.Since(back).Round(10*time.Millisecond))
	time.Sleep(10 * time.Second)
	cancel()
	<-done
	report(t, tl)
	peak := r.f.Sim.QuotaPeak()
	bound := int64(float64(tokenQuota) * (1 + 1.0/fleet.Size))
	t.Logf("the provider's rolling minute held at most %d tokens: %.3f of the quota (bound %.3f); slowest answer %s",
		peak, float64(peak)/tokenQuota, float64(bound)/tokenQuota, tl.Slowest.Round(time.Millisecond))
	if peak > bound {
		t.Errorf("the fleet sent %d tokens in a minute, above limit × (1 + 1/N) = %d", peak, bound)
	}
	if n := tl.Total(tl.Other); n != 0 {
		t.Errorf("%d answers were neither served nor refused by admission", n)
	}
}

// waitStoreUp waits until every guard reports the store up (1) or down (0).
func (r *fleetRun) waitStoreUp(want float64) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var waiting []string
		for _, g := range r.f.Guards {
			if v, err := g.Metric("breakwater_guard_admission_store_up"); err != nil || v != want {
				waiting = append(waiting, g.Proc.Name)
			}
		}
		if len(waiting) == 0 {
			return
		}
		if time.Now().After(deadline) {
			slices.Sort(waiting)
			r.t.Fatalf("guards %v do not report the store up = %g", waiting, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Package admissionbench measures fleet-wide admission for `make bench`, each figure beside a
// baseline from the same run: what a reservation adds to a request against a bare round trip of
// the same script to the same Redis; how far a fleet overshoots its quota in any 60 seconds when its
// guard count lags (an autoscaler added pods before the manager handed the new count down), shared
// against local enforcement; and the provider's throttle ratio at 3 times the quota's demand with
// and without admission, from real guard processes (test/fleet).
package admissionbench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/breakwater-dev/breakwater/internal/admission"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/test/bench/report"
	"github.com/breakwater-dev/breakwater/test/fleet"
	"github.com/breakwater-dev/breakwater/test/redistest"
)

// Figure names.
const (
	FigureReserveP50    = "admission_reserve_p50_us"
	FigureReserveP99    = "admission_reserve_p99_us"
	FigureOvershoot     = "admission_overshoot_shared"
	FigureThrottleRatio = "provider_throttle_ratio_with_admission"
)

// FigureNames are the figures Run returns, in order.
var FigureNames = []string{FigureReserveP50, FigureReserveP99, FigureOvershoot, FigureThrottleRatio}

// Options configure Run.
type Options struct {
	// Short is the smoke run: a few hundred reservations and 5 s fleet runs instead of 5000 and 60 s.
	Short bool
	// WorkDir holds Redis' and the guards' logs and the guard binary.
	WorkDir string
	// Log receives progress; nil discards it.
	Log io.Writer
}

// Run measures every figure.
func Run(ctx context.Context, o Options) ([]report.Figure, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if err := os.MkdirAll(o.WorkDir, 0o755); err != nil {
		return nil, err
	}
	srv, err := redistest.Launch(filepath.Join(o.WorkDir, "redis"))
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{srv.Addr}, ContextTimeoutEnabled: true, MaxRetries: -1})
	defer rdb.Close()

	var figs []report.Figure
	lat, err := reserveLatency(ctx, o, rdb)
	if err != nil {
		return nil, err
	}
	figs = append(figs, lat...)
	over, err := overshoot(ctx, rdb)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "overshoot with 15 guards running and 10 declared: shared %.3f, local %.3f of the limit\n", over.Value, over.BaselineValue)
	figs = append(figs, over)
	thr, err := throttleRatio(ctx, o, srv.Addr)
	if err != nil {
		return nil, err
	}
	return append(figs, thr), nil
}

func benchQuota(key string) admission.Quota {
	return admission.Quota{Key: key, Namespace: "bench", TokensPerMinute: 1 << 40, ShedPercent: 90, HardPercent: 100,
		CriticalReservePercent: 10, Guards: 10}
}

// reserveLatency times the guard's reservation (admission.Admitter: breaker, local bookkeeping,
// the script, its reply decoded) against the bare script round trip, alternating the two.
func reserveLatency(ctx context.Context, o Options, rdb redis.UniversalClient) ([]report.Figure, error) {
	n := 5000
	if o.Short {
		n = 300
	}
	store := admission.NewStore(rdb, time.Second, nil)
	a := admission.NewAdmitter(store, nil, nil)
	defer a.Close()
	q := []admission.Quota{benchQuota("bench/latency")}
	var withAdmitter, bare []time.Duration
	for i := range n + n/10 {
		start := time.Now()
		t := a.Reserve(ctx, admission.Standard, 150, q)
		took := time.Since(start)
		if !t.Admitted || t.Mode != admission.Shared {
			return nil, fmt.Errorf("reservation %d: %+v", i, t)
		}
		a.Settle(t, 100, true)
		start = time.Now()
		if err := admission.BareReserve(ctx, rdb, admission.Standard, 150, q); err != nil {
			return nil, err
		}
		bareTook := time.Since(start)
		if i >= n/10 { // the first tenth warms connections and the script cache
			withAdmitter, bare = append(withAdmitter, took), append(bare, bareTook)
		}
	}
	p := func(ds []time.Duration, q float64) float64 {
		slices.Sort(ds)
		return float64(ds[int(q*float64(len(ds)-1))].Nanoseconds()) / 1000
	}
	fmt.Fprintf(o.Log, "reservation p50 %.0fus p99 %.0fus; bare script p50 %.0fus p99 %.0fus (%d each)\n",
		p(withAdmitter, 0.5), p(withAdmitter, 0.99), p(bare, 0.5), p(bare, 0.99), n)
	return []report.Figure{
		report.New(FigureReserveP50, p(withAdmitter, 0.5), "us", "bare_reserve_script_p50_us", p(bare, 0.5)),
		report.New(FigureReserveP99, p(withAdmitter, 0.99), "us", "bare_reserve_script_p99_us", p(bare, 0.99)),
	}, nil
}

// overshoot runs 15 guards (10 declared) at 3 times a 60000 tokens/min quota for 3 simulated
// minutes on a fake clock, shared and then local, and returns the most tokens admitted in any 60
// seconds over the limit.
func overshoot(ctx context.Context, rdb redis.UniversalClient) (report.Figure, error) {
	shared, err := overshootRun(ctx, rdb, admission.Shared)
	if err != nil {
		return report.Figure{}, err
	}
	local, err := overshootRun(ctx, rdb, admission.Local)
	if err != nil {
		return report.Figure{}, err
	}
	return report.New(FigureOvershoot, shared, "x limit", "admission_overshoot_local", local), nil
}

func overshootRun(ctx context.Context, rdb redis.UniversalClient, enforcement admission.Enforcement) (float64, error) {
	const (
		limit   = 60_000
		running = 15
		seconds = 180
	)
	clock := time.Unix(1_900_000_000, 0)
	now := func() time.Time { return clock }
	store := admission.NewStore(rdb, time.Second, now)
	q := admission.Quota{Key: "bench/overshoot-" + string(enforcement), Namespace: "bench", TokensPerMinute: limit,
		ShedPercent: 100, HardPercent: 100, Enforcement: enforcement, Guards: 10}
	errs := &firstError{}
	guards := make([]*admission.Admitter, running)
	for i := range guards {
		s := store
		if enforcement == admission.Local {
			s = nil
		}
		guards[i] = admission.NewAdmitter(s, errs, now)
	}
	defer func() {
		for _, g := range guards {
			g.Close()
		}
	}()
	// Each guard asks 2 requests of 150 tokens (settled to 100) a second: 30 a second, 180000
	// tokens a minute, 3 times the quota. Settles are asynchronous in the shared store: the clock
	// moves on while they are in flight, as on a real fleet.
	admitted := make([]int64, seconds)
	decidedLocally := 0
	for sec := range seconds {
		for step := range 2 {
			clock = time.Unix(1_900_000_000+int64(sec), int64(step)*int64(500*time.Millisecond))
			for _, g := range guards {
				t := g.Reserve(ctx, admission.Standard, 150, []admission.Quota{q})
				if t.Mode == admission.Local {
					decidedLocally++
				}
				if t.Admitted {
					g.Settle(t, 100, true)
					admitted[sec] += 100
				}
			}
		}
	}
	if enforcement == admission.Shared && decidedLocally > 0 {
		return 0, fmt.Errorf("the store did not decide %d reservations of the shared run: %v", decidedLocally, errs.get())
	}
	var worst int64
	for end := 60; end <= seconds; end++ {
		var sum int64
		for _, v := range admitted[end-60 : end] {
			sum += v
		}
		worst = max(worst, sum)
	}
	return float64(worst) / limit, nil
}

// throttleRatio runs the fleet at 3 times the quota against a provider whose quota equals the
// TokenQuota, with shared admission and with none, and returns the share of requests the provider
// throttled.
func throttleRatio(ctx context.Context, o Options, storeAddr string) (report.Figure, error) {
	bin, err := fleet.Build(o.WorkDir)
	if err != nil {
		return report.Figure{}, err
	}
	d := 60 * time.Second
	if o.Short {
		d = 5 * time.Second
	}
	ratio := func(enforcement guardconfig.Enforcement, name string) (float64, error) {
		dir := filepath.Join(o.WorkDir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return 0, err
		}
		f, err := fleet.Start(fleet.Options{Bin: bin, Dir: dir, ProviderTPM: fleet.DefaultTokenQuota, Enforcement: enforcement,
			StoreAddr: storeAddr, StoreTimeout: 100 * time.Millisecond})
		if err != nil {
			return 0, err
		}
		defer f.Stop()
		tl := fleet.NewTally()
		dctx, cancel := context.WithTimeout(ctx, d)
		f.Drive(dctx, tl)
		cancel()
		for _, line := range tl.Report() {
			fmt.Fprintf(o.Log, "%s: %s\n", name, line)
		}
		return float64(f.Sim.Stats().QuotaThrottled) / float64(max(1, tl.Total(tl.Sent))), nil
	}
	with, err := ratio(guardconfig.EnforcementShared, "with-admission")
	if err != nil {
		return report.Figure{}, err
	}
	without, err := ratio("", "without-admission")
	if err != nil {
		return report.Figure{}, err
	}
	fmt.Fprintf(o.Log, "provider throttle ratio at 3x demand: %.3f with admission, %.3f without\n", with, without)
	return report.New(FigureThrottleRatio, with, "ratio", "provider_throttle_ratio_without_admission", without), nil
}

// firstError is an admission.Observer that keeps the first store error.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) StoreAvailable(bool, error) {}
func (f *firstError) StoreCall(_ time.Duration, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}
func (f *firstError) Share(string, int64) {}
func (f *firstError) SettleDropped()      {}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// Package admission_test runs fleet-wide admission as it runs in a cluster: many guard processes
// (cmd/guard, built here) of three workloads of different criticality share TokenQuota budgets in
// a real Redis (Debian's redis-server), in front of the upstream simulator playing a Bedrock
// Region with a provider quota that reserves and settles the AWS way.
package admission_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/breakwater-dev/breakwater/internal/admission"
	"github.com/breakwater-dev/breakwater/internal/guard"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/test/localproc"
	"github.com/breakwater-dev/breakwater/test/redistest"
	"github.com/breakwater-dev/breakwater/test/testenv"
	"github.com/breakwater-dev/breakwater/test/upstreamsim"
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
	root, err := testenv.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	guardBin = filepath.Join(dir, "guard")
	build := exec.Command("go", "build", "-o", guardBin, "./cmd/guard")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/guard: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// The fleet: 10 guards of 3 workloads. Each request is a Converse call with a prompt of about 50
// tokens and the endpoint's output clamp of 100 (the reservation: 150), answered with 50 output
// tokens (the settled usage: about 100).
var classes = []struct {
	crit   guardconfig.Criticality
	guards int
}{{guardconfig.Critical, 2}, {guardconfig.Standard, 4}, {guardconfig.Sheddable, 4}}

const (
	fleetSize    = 10
	tokenQuota   = 60_000 // tokens per minute: about 600 requests
	perGuardRate = 3      // requests per second: 30 in all, 3 times the quota
	// Longer than production's 10ms: these machines are shared, and a starved guard falling back to
	// its local share would refuse critical traffic the test expects served.
	storeTimeout = 200 * time.Millisecond
)

var prompt = strings.Repeat("tell me about breakwaters ", 8)[:200]

type fleet struct {
	t      *testing.T
	sim    *upstreamsim.Server
	redis  *redistest.Server
	rdb    redis.UniversalClient
	guards []*guardProc
}

type guardProc struct {
	crit        guardconfig.Criticality
	url, admin  string
	proc        *localproc.Proc
	client      *http.Client
	requestPath string
}

// startFleet starts Redis, the simulator with a provider quota of providerTPM and the 10 guards
// enforcing a TokenQuota of tokenQuota tokens per minute.
func startFleet(t *testing.T, providerTPM int64, enforcement guardconfig.Enforcement) *fleet {
	t.Helper()
	f := &fleet{t: t}
	f.redis = redistest.StartServer(t)
	f.rdb = redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{f.redis.Addr}})
	t.Cleanup(func() { f.rdb.Close() })
	sim, err := upstreamsim.Start(upstreamsim.Options{Region: "us-east-1", OutputTokens: 50,
		Quota: upstreamsim.Quota{TokensPerMinute: providerTPM}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	f.sim = sim
	dir := t.TempDir()
	g := &localproc.Group{LogDir: dir}
	t.Cleanup(func() { g.StopAll(5 * time.Second) })
	env := []string{"AWS_ACCESS_KEY_ID=AKIDFLEET", "AWS_SECRET_ACCESS_KEY=fleet-secret", "AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true"}
	n := 0
	for _, c := range classes {
		for range c.guards {
			n++
			cfg := guardconfig.Config{
				APIVersion: guardconfig.APIVersion,
				Workload:   guardconfig.Workload{Namespace: "team", Name: string(c.crit), Criticality: c.crit},
				Endpoints: []guardconfig.Endpoint{{
					Name: "claude", Provider: guardconfig.Bedrock,
					Targets: []guardconfig.Target{{Name: "east", Weight: 100, Region: "us-east-1", ModelID: "anthropic.claude-sim", URL: sim.URL()}},
					Limits:  guardconfig.Limits{MaxOutputTokens: 100},
					// One attempt: a provider throttle reaches the app, where the test counts it.
					Retry:   guardconfig.Retry{MaxAttempts: 1},
					Breaker: guardconfig.Breaker{MinRequests: 1_000_000, ConsecutiveFailures: -1},
				}},
				Admission: guardconfig.Admission{
					Quotas: []guardconfig.AdmissionQuota{{Namespace: "team", Name: "bedrock", Endpoints: []string{"claude"},
						Enforcement: enforcement, TokensPerMinute: tokenQuota, ShedPercent: 90, HardPercent: 100,
						CriticalReservePercent: 10, Guards: fleetSize}},
				},
			}
			if enforcement == guardconfig.EnforcementShared {
				cfg.Admission.Store = &guardconfig.AdmissionStore{Addresses: []string{f.redis.Addr}, Timeout: guardconfig.Duration(storeTimeout)}
			}
			data, err := json.Marshal(cfg)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, fmt.Sprintf("guard-%d.json", n))
			if err := os.WriteFile(file, data, 0o600); err != nil {
				t.Fatal(err)
			}
			listen, err := localproc.FreeAddr()
			if err != nil {
				t.Fatal(err)
			}
			admin, err := localproc.FreeAddr()
			if err != nil {
				t.Fatal(err)
			}
			p, err := g.Start(fmt.Sprintf("guard-%d-%s", n, c.crit), env, guardBin, "--config-file="+file,
				"--listen="+listen, "--admin-listen="+admin, "--log-level=warn")
			if err != nil {
				t.Fatal(err)
			}
			f.guards = append(f.guards, &guardProc{crit: c.crit, url: "http://" + listen, admin: "http://" + admin, proc: p,
				client: &http.Client{Timeout: 10 * time.Second}, requestPath: "/m/claude/model/anthropic.claude-sim/converse"})
		}
	}
	for _, gp := range f.guards {
		if err := localproc.WaitHTTP(context.Background(), gp.proc, gp.admin+"/readyz", 20*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// tally is what the apps saw, per criticality.
type tally struct {
	mu                                  sync.Mutex
	sent, ok, refused, throttled, other map[guardconfig.Criticality]int
	slowest                             time.Duration
	firstOther                          string
}

func newTally() *tally {
	return &tally{sent: map[guardconfig.Criticality]int{}, ok: map[guardconfig.Criticality]int{}, refused: map[guardconfig.Criticality]int{},
		throttled: map[guardconfig.Criticality]int{}, other: map[guardconfig.Criticality]int{}}
}

func (tl *tally) total(m map[guardconfig.Criticality]int) int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// drive sends perGuardRate requests a second to every guard, open loop, until ctx ends, and
// waits for the answers.
func (f *fleet) drive(ctx context.Context, tl *tally) {
	var wg sync.WaitGroup
	body := `{"messages":[{"role":"user","content":[{"text":"` + prompt + `"}]}]}`
	for _, gp := range f.guards {
		wg.Go(func() {
			tick := time.NewTicker(time.Second / perGuardRate)
			defer tick.Stop()
			var inflight sync.WaitGroup
			defer inflight.Wait()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				inflight.Go(func() { f.send(gp, body, tl) })
			}
		})
	}
	wg.Wait()
}

func (f *fleet) send(gp *guardProc, body string, tl *tally) {
	start := time.Now()
	resp, err := gp.client.Post(gp.url+gp.requestPath, "application/json", strings.NewReader(body))
	took := time.Since(start)
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.sent[gp.crit]++
	tl.slowest = max(tl.slowest, took)
	if err != nil {
		tl.other[gp.crit]++
		tl.firstOther = cmpOr(tl.firstOther, err.Error())
		return
	}
	resp.Body.Close()
	reason := resp.Header.Get(guard.HeaderReason)
	switch {
	case resp.StatusCode == http.StatusOK:
		tl.ok[gp.crit]++
	case reason == guard.ReasonAdmissionShed || reason == guard.ReasonAdmissionExhausted:
		tl.refused[gp.crit]++
	case reason == guard.ReasonUpstreamThrottled:
		tl.throttled[gp.crit]++
	default:
		tl.other[gp.crit]++
		tl.firstOther = cmpOr(tl.firstOther, fmt.Sprintf("%d %s", resp.StatusCode, reason))
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (tl *tally) report(t *testing.T) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for _, c := range classes {
		t.Logf("%-9s sent %4d  served %4d  refused by admission %4d  throttled by the provider %3d  other %d",
			c.crit, tl.sent[c.crit], tl.ok[c.crit], tl.refused[c.crit], tl.throttled[c.crit], tl.other[c.crit])
	}
	if tl.firstOther != "" {
		t.Logf("first other answer: %s", tl.firstOther)
	}
}

// metric reads one unlabelled gauge or counter from a guard's /metrics.
func (gp *guardProc) metric(name string) (float64, error) {
	resp, err := http.Get(gp.admin + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("%s not in the metrics of %s", name, gp.admin)
}

// standing is the quota as the store holds it now.
func (f *fleet) standing() (admission.Standing, error) {
	return admission.NewStore(f.rdb, time.Second, nil).Inspect(context.Background(),
		admission.Quota{Key: "team/bedrock", Namespace: "team"})
}

// At 3 times the quota, with the TokenQuota equal to the provider's limit: the provider never
// throttles, critical traffic (whose own demand fits) is served throughout, and sheddable traffic
// is refused first.
func TestFleetAtThreeTimesTheQuota(t *testing.T) {
	t.Parallel()
	f := startFleet(t, tokenQuota, guardconfig.EnforcementShared)
	tl := newTally()
	ctx, cancel := context.WithTimeout(context.Background(), 70*time.Second)
	defer cancel()
	f.drive(ctx, tl)
	tl.report(t)
	st := f.sim.Stats()
	peak := f.sim.QuotaPeak()
	t.Logf("provider: %d throttles, the most its rolling minute held %d of %d tokens (%.3f of the limit), %d input + %d output tokens served",
		st.QuotaThrottled, peak, tokenQuota, float64(peak)/tokenQuota, st.InputTokens, st.OutputTokens)
	if st.QuotaThrottled != 0 {
		t.Errorf("the provider throttled %d requests; want none with the TokenQuota at its limit", st.QuotaThrottled)
	}
	if tl.total(tl.other) != 0 {
		t.Errorf("%d answers were neither served nor refused by admission", tl.total(tl.other))
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if c := guardconfig.Critical; tl.ok[c] != tl.sent[c] {
		t.Errorf("critical: %d of %d served; want all (their demand, 36000 tokens/min, fits the quota)", tl.ok[c], tl.sent[c])
	}
	ratio := func(c guardconfig.Criticality) float64 { return float64(tl.refused[c]) / float64(max(1, tl.sent[c])) }
	if !(ratio(guardconfig.Sheddable) > ratio(guardconfig.Standard)) {
		t.Errorf("refused: sheddable %.2f, standard %.2f; want sheddable refused first", ratio(guardconfig.Sheddable), ratio(guardconfig.Standard))
	}
	if served := tl.ok[guardconfig.Critical] + tl.ok[guardconfig.Standard] + tl.ok[guardconfig.Sheddable]; served < 600 {
		t.Errorf("the fleet was served %d requests in 70 s, want at least the quota's 600 a minute", served)
	}
}

// A provider limit at half the TokenQuota's (the account's quota used outside the cluster): the
// first throttles lower the learned share for every guard at once, and after that the provider
// rarely throttles; the learned limit is within 15 % of the hidden one.
func TestFleetLearnsAHiddenProviderLimit(t *testing.T) {
	t.Parallel()
	const hidden = tokenQuota / 2
	f := startFleet(t, hidden, guardconfig.EnforcementShared)
	converged := newTally()
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	f.drive(ctx, newTally())
	cancel()
	throttledBefore := f.sim.Stats().QuotaThrottled
	ctx, cancel = context.WithTimeout(context.Background(), 55*time.Second)
	defer cancel()
	f.drive(ctx, converged)
	converged.report(t)
	st, err := f.standing()
	if err != nil {
		t.Fatal(err)
	}
	learned := float64(st.Share) / admission.FullShare * tokenQuota
	throttled := converged.total(converged.throttled)
	sent := converged.total(converged.sent)
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
// longer than the store timeout for it, the fleet admits at most limit × (1 + 1/N), and the store
// back makes the quota shared again.
func TestFleetSurvivesTheStoreDying(t *testing.T) {
	t.Parallel()
	f := startFleet(t, 2*tokenQuota, guardconfig.EnforcementShared) // the provider only measures
	tl := newTally()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.drive(ctx, tl); close(done) }()
	defer func() { cancel(); <-done }()

	time.Sleep(25 * time.Second)
	f.redis.Kill()
	killed := time.Now()
	f.waitStoreUp(0)
	t.Logf("every guard on its local share %s after Redis died", time.Since(killed).Round(10*time.Millisecond))
	time.Sleep(25 * time.Second)
	if err := f.redis.Restart(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	f.waitStoreUp(1)
	t.Logf("every guard shared again %s after Redis came back", time.Since(back).Round(10*time.Millisecond))
	time.Sleep(10 * time.Second)
	cancel()
	<-done
	tl.report(t)
	peak := f.sim.QuotaPeak()
	bound := int64(float64(tokenQuota) * (1 + 1.0/fleetSize))
	t.Logf("the provider's rolling minute held at most %d tokens: %.3f of the quota (bound %.3f); slowest answer %s",
		peak, float64(peak)/tokenQuota, float64(bound)/tokenQuota, tl.slowest.Round(time.Millisecond))
	if peak > bound {
		t.Errorf("the fleet sent %d tokens in a minute, above limit × (1 + 1/N) = %d", peak, bound)
	}
	if tl.total(tl.other) != 0 {
		t.Errorf("%d answers were neither served nor refused by admission", tl.total(tl.other))
	}
}

// waitStoreUp waits until every guard reports the store up (1) or down (0).
func (f *fleet) waitStoreUp(want float64) {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var waiting []string
		for _, gp := range f.guards {
			if v, err := gp.metric("breakwater_guard_admission_store_up"); err != nil || v != want {
				waiting = append(waiting, gp.proc.Name)
			}
		}
		if len(waiting) == 0 {
			return
		}
		if time.Now().After(deadline) {
			slices.Sort(waiting)
			f.t.Fatalf("guards %v do not report the store up = %g", waiting, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

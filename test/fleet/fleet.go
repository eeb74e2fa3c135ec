// Package fleet runs fleet-wide admission as it runs in a cluster, for the tests of test/admission
// and the benchmarks: many guard processes (cmd/guard) of three workloads of different criticality,
// sharing one TokenQuota's budget in Redis (or each on its local share, or with no admission at
// all), in front of the upstream simulator playing a Bedrock Region with a hidden provider quota
// that reserves and settles the AWS way; and an open-loop load generator that counts what the apps
// saw.
package fleet

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/breakwater-dev/breakwater/internal/guard"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/test/localproc"
	"github.com/breakwater-dev/breakwater/test/testenv"
	"github.com/breakwater-dev/breakwater/test/upstreamsim"
)

// Classes are the fleet's workloads: 2 critical, 4 standard and 4 sheddable guards. Each request is
// a Converse call with a prompt of about 50 tokens and the endpoint's output clamp of 100 (the
// reservation: 150), answered with 50 output tokens (the settled usage: 100).
var Classes = []struct {
	Criticality guardconfig.Criticality
	Guards      int
}{{guardconfig.Critical, 2}, {guardconfig.Standard, 4}, {guardconfig.Sheddable, 4}}

// Size is the number of guards.
const Size = 10

// Defaults of Options.
const (
	DefaultTokenQuota = 60_000 // tokens per minute: about 600 requests
	// PerGuardRate is each guard's demand, requests per second: 30 in all, 3 times the quota.
	PerGuardRate = 3
)

var prompt = strings.Repeat("tell me about breakwaters ", 8)[:200]

// Options configure a fleet.
type Options struct {
	// Bin is the guard binary (Build); Dir holds the configs and logs.
	Bin, Dir string
	// ProviderTPM is the simulator's hidden tokens-per-minute quota; 0: none.
	ProviderTPM int64
	// TokenQuota is the quota's tokens per minute (default DefaultTokenQuota).
	TokenQuota int64
	// Enforcement: shared (needs StoreAddr), local, or "" for no admission at all.
	Enforcement guardconfig.Enforcement
	// StoreAddr is the Redis host:port; StoreTimeout each reservation's timeout.
	StoreAddr    string
	StoreTimeout time.Duration
	// DeclaredGuards is the guard count handed to the guards for the local share (default Size).
	DeclaredGuards int64
}

// Fleet is the running guards and simulator.
type Fleet struct {
	Sim    *upstreamsim.Server
	Guards []*Guard
	procs  *localproc.Group
}

// Guard is one guard process.
type Guard struct {
	Criticality guardconfig.Criticality
	URL, Admin  string
	Proc        *localproc.Proc
	client      *http.Client
}

// Build compiles cmd/guard into dir and returns its path.
func Build(dir string) (string, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "guard")
	build := exec.Command("go", "build", "-o", bin, "./cmd/guard")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/guard: %w\n%s", err, out)
	}
	return bin, nil
}

// Start starts the simulator and the guards, and waits until every guard is ready.
func Start(o Options) (*Fleet, error) {
	if o.TokenQuota == 0 {
		o.TokenQuota = DefaultTokenQuota
	}
	if o.DeclaredGuards == 0 {
		o.DeclaredGuards = Size
	}
	sim, err := upstreamsim.Start(upstreamsim.Options{Region: "us-east-1", OutputTokens: 50,
		Quota: upstreamsim.Quota{TokensPerMinute: o.ProviderTPM}})
	if err != nil {
		return nil, err
	}
	f := &Fleet{Sim: sim, procs: &localproc.Group{LogDir: o.Dir}}
	if err := f.start(o, sim.URL()); err != nil {
		f.Stop()
		return nil, err
	}
	return f, nil
}

func (f *Fleet) start(o Options, simURL string) error {
	env := []string{"AWS_ACCESS_KEY_ID=AKIDFLEET", "AWS_SECRET_ACCESS_KEY=fleet-secret", "AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true"}
	n := 0
	for _, c := range Classes {
		for range c.Guards {
			n++
			data, err := json.Marshal(o.config(c.Criticality, simURL))
			if err != nil {
				return err
			}
			file := filepath.Join(o.Dir, fmt.Sprintf("guard-%d.json", n))
			if err := os.WriteFile(file, data, 0o600); err != nil {
				return err
			}
			g, err := f.startGuard(fmt.Sprintf("guard-%d-%s", n, c.Criticality), env, o.Bin, file)
			if err != nil {
				return err
			}
			g.Criticality = c.Criticality
			f.Guards = append(f.Guards, g)
		}
	}
	return nil
}

// startGuard starts one guard on free loopback ports and waits until it is ready, on other ports
// when another process took one of them first.
func (f *Fleet) startGuard(name string, env []string, bin, configFile string) (*Guard, error) {
	var err error
	for try := 0; try < 5; try++ {
		var listen, admin string
		if listen, err = localproc.FreeAddr(); err != nil {
			return nil, err
		}
		if admin, err = localproc.FreeAddr(); err != nil {
			return nil, err
		}
		var p *localproc.Proc
		p, err = f.procs.Start(fmt.Sprintf("%s-%d", name, try), env, bin, "--config-file="+configFile,
			"--listen="+listen, "--admin-listen="+admin, "--log-level=warn")
		if err != nil {
			return nil, err
		}
		if err = localproc.WaitHTTP(context.Background(), p, "http://"+admin+"/readyz", 20*time.Second); err == nil {
			return &Guard{URL: "http://" + listen, Admin: "http://" + admin, Proc: p, client: &http.Client{Timeout: 10 * time.Second}}, nil
		}
		p.Stop(time.Second)
		if !strings.Contains(localproc.Tail(p.Log, 4096), "address already in use") {
			return nil, err
		}
	}
	return nil, err
}

func (o Options) config(crit guardconfig.Criticality, simURL string) guardconfig.Config {
	cfg := guardconfig.Config{
		APIVersion: guardconfig.APIVersion,
		Workload:   guardconfig.Workload{Namespace: "team", Name: string(crit), Criticality: crit},
		Endpoints: []guardconfig.Endpoint{{
			Name: "claude", Provider: guardconfig.Bedrock,
			Targets: []guardconfig.Target{{Name: "east", Weight: 100, Region: "us-east-1", ModelID: "anthropic.claude-sim", URL: simURL}},
			Limits:  guardconfig.Limits{MaxOutputTokens: 100},
			// One attempt: a provider throttle reaches the app, where it is counted.
			Retry:   guardconfig.Retry{MaxAttempts: 1},
			Breaker: guardconfig.Breaker{MinRequests: 1_000_000, ConsecutiveFailures: -1},
		}},
	}
	if o.Enforcement == "" {
		return cfg
	}
	cfg.Admission.Quotas = []guardconfig.AdmissionQuota{{Namespace: "team", Name: "bedrock", Endpoints: []string{"claude"},
		Enforcement: o.Enforcement, TokensPerMinute: o.TokenQuota, ShedPercent: 90, HardPercent: 100,
		CriticalReservePercent: 10, Guards: o.DeclaredGuards}}
	if o.Enforcement == guardconfig.EnforcementShared {
		cfg.Admission.Store = &guardconfig.AdmissionStore{Addresses: []string{o.StoreAddr}, Timeout: guardconfig.Duration(o.StoreTimeout)}
	}
	return cfg
}

// Stop stops the guards and the simulator.
func (f *Fleet) Stop() {
	f.procs.StopAll(5 * time.Second)
	f.Sim.Close()
}

// Tally is what the apps saw, per criticality.
type Tally struct {
	mu                                  sync.Mutex
	Sent, OK, Refused, Throttled, Other map[guardconfig.Criticality]int
	// Slowest is the longest answer; FirstOther the first answer of no known kind.
	Slowest    time.Duration
	FirstOther string
}

// NewTally returns an empty tally.
func NewTally() *Tally {
	return &Tally{Sent: map[guardconfig.Criticality]int{}, OK: map[guardconfig.Criticality]int{}, Refused: map[guardconfig.Criticality]int{},
		Throttled: map[guardconfig.Criticality]int{}, Other: map[guardconfig.Criticality]int{}}
}

// Total adds up one of the tally's maps.
func (tl *Tally) Total(m map[guardconfig.Criticality]int) int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// Lock guards reading the maps while a drive runs.
func (tl *Tally) Lock() { tl.mu.Lock() }

// Unlock ends Lock.
func (tl *Tally) Unlock() { tl.mu.Unlock() }

// Report is one line per class.
func (tl *Tally) Report() []string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var out []string
	for _, c := range Classes {
		k := c.Criticality
		out = append(out, fmt.Sprintf("%-9s sent %4d  served %4d  refused by admission %4d  throttled by the provider %3d  other %d",
			k, tl.Sent[k], tl.OK[k], tl.Refused[k], tl.Throttled[k], tl.Other[k]))
	}
	if tl.FirstOther != "" {
		out = append(out, "first other answer: "+tl.FirstOther)
	}
	return out
}

// Drive sends PerGuardRate requests a second to every guard, open loop, until ctx ends, and waits
// for the answers.
func (f *Fleet) Drive(ctx context.Context, tl *Tally) {
	var wg sync.WaitGroup
	body := `{"messages":[{"role":"user","content":[{"text":"` + prompt + `"}]}]}`
	for _, g := range f.Guards {
		wg.Go(func() {
			tick := time.NewTicker(time.Second / PerGuardRate)
			defer tick.Stop()
			var inflight sync.WaitGroup
			defer inflight.Wait()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				inflight.Go(func() { g.send(body, tl) })
			}
		})
	}
	wg.Wait()
}

func (g *Guard) send(body string, tl *Tally) {
	start := time.Now()
	resp, err := g.client.Post(g.URL+"/m/claude/model/anthropic.claude-sim/converse", "application/json", strings.NewReader(body))
	took := time.Since(start)
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.Sent[g.Criticality]++
	tl.Slowest = max(tl.Slowest, took)
	if err != nil {
		tl.Other[g.Criticality]++
		tl.FirstOther = cmpOr(tl.FirstOther, err.Error())
		return
	}
	resp.Body.Close()
	reason := resp.Header.Get(guard.HeaderReason)
	switch {
	case resp.StatusCode == http.StatusOK:
		tl.OK[g.Criticality]++
	case reason == guard.ReasonAdmissionShed || reason == guard.ReasonAdmissionExhausted:
		tl.Refused[g.Criticality]++
	case reason == guard.ReasonUpstreamThrottled:
		tl.Throttled[g.Criticality]++
	default:
		tl.Other[g.Criticality]++
		tl.FirstOther = cmpOr(tl.FirstOther, fmt.Sprintf("%d %s", resp.StatusCode, reason))
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Metric reads one unlabelled gauge or counter from the guard's /metrics.
func (g *Guard) Metric(name string) (float64, error) {
	resp, err := http.Get(g.Admin + "/metrics")
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
	return 0, fmt.Errorf("%s not in the metrics of %s", name, g.Admin)
}

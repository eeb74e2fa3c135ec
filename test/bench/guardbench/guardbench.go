// Package guardbench is the guard half of `make bench`: it measures the guard (cmd/guard) with every
// protection switched on against a stock Go reverse proxy, nginx and a peer AI gateway (Portkey's
// open-source gateway, run with Node), all in front of the upstream simulator on loopback, and returns the figures with their same-run baselines (docs/benchmarks.md).
//
// Run builds what it needs, starts every process pinned with taskset (the proxy under test alone on
// CPU 0, the load generator and the simulator on CPU 1), drives the phases one after the other and
// stops every process it started, also on error or when ctx is cancelled.
package guardbench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/breakwater-dev/breakwater/test/bench/guardbench/loadgen"
	"github.com/breakwater-dev/breakwater/test/bench/guardbench/micro"
	"github.com/breakwater-dev/breakwater/test/bench/report"
)

// Options configure Run.
type Options struct {
	// Short is the smoke run: every figure, from phases of a fraction of a second (about 25 s in all).
	Short bool
	// WorkDir is a scratch folder (binaries, configs, logs, profiles), e.g. bin/bench/guard.
	WorkDir string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// FigureNames is every figure Run returns, in order.
var FigureNames = append([]string{
	"guard_added_p50_us",
	"guard_added_p99_us",
	"guard_added_p50_us_vs_nginx",
	"guard_added_p99_us_vs_nginx",
	"guard_p50_us",
	"guard_p99_us",
	"guard_max_rps_1cpu",
	"guard_max_rps_1cpu_vs_nginx",
	"guard_cpu_per_1k_rps",
	"guard_rss_idle_mib",
	"guard_rss_1000_streams_mib",
	"guard_ttft_added_p50_us",
	"guard_ttft_added_p99_us",
	"guard_ttft_bedrock_added_p50_us",
	"guard_ttft_bedrock_added_p99_us",
	"guard_retry_amplification",
	"guard_retry_amplification_budget_only",
	"guard_added_p50_us_vs_portkey",
	"guard_added_p99_us_vs_portkey",
	"guard_max_rps_1cpu_vs_portkey",
	"guard_cpu_per_1k_rps_vs_portkey",
	"guard_rss_idle_mib_vs_portkey",
	"guard_rss_1000_streams_mib_vs_portkey",
	"guard_ttft_added_p50_us_vs_portkey",
	"guard_ttft_added_p99_us_vs_portkey",
	"guard_fallback_failed_share",
	"guard_fallback_attempts_per_request",
}, microFigureNames()...)

// maxOthersShare is the share of the proxies' CPU that other processes may take (median over the
// rounds) before the run warns that its latency figures are not to be trusted.
const maxOthersShare = 0.1

// params are the sizes of the phases.
type params struct {
	rate                 float64       // the latency and CPU phases' request rate
	latWarmup, latDur    time.Duration // per proxy
	maxConc              int           // closed-loop workers
	maxWarmup, maxDur    time.Duration
	ttftRate             float64
	ttftWarmup, ttftDur  time.Duration
	streams              int
	hold                 time.Duration
	retryRate            float64
	retryDur, retryGoDur time.Duration
	fallbackDur          time.Duration // the fault run with a fallback target, per proxy
	benchtime            string
	profile              bool
	rounds               int // the latency, max and first-event phases run this often, interleaved
}

func paramsFor(short bool) params {
	if short {
		return params{rate: 1000, latWarmup: 200 * time.Millisecond, latDur: 700 * time.Millisecond,
			maxConc: 32, maxWarmup: 150 * time.Millisecond, maxDur: 500 * time.Millisecond,
			ttftRate: 100, ttftWarmup: 100 * time.Millisecond, ttftDur: 400 * time.Millisecond,
			streams: 100, hold: 300 * time.Millisecond,
			retryRate: 200, retryDur: 2 * time.Second, retryGoDur: 300 * time.Millisecond,
			fallbackDur: time.Second, benchtime: "20ms", rounds: 1}
	}
	return params{rate: 1000, latWarmup: time.Second, latDur: 3 * time.Second,
		maxConc: 64, maxWarmup: 500 * time.Millisecond, maxDur: 3 * time.Second,
		ttftRate: 100, ttftWarmup: 500 * time.Millisecond, ttftDur: 2 * time.Second, rounds: 5,
		streams: 1000, hold: 2 * time.Second,
		retryRate: 200, retryDur: 30 * time.Second, retryGoDur: 5 * time.Second,
		fallbackDur: 20 * time.Second, benchtime: "1s", profile: true}
}

// proxy is one way to the simulator: straight, or through a proxy process.
type proxy struct {
	name     string
	p        *proc // nil for direct
	chat     string
	stream   string
	converse string   // "" when the proxy does not pass Bedrock calls through (Portkey translates instead)
	header   []string // load generator flags for headers the proxy needs (Portkey's routing headers)
}

type runner struct {
	o      Options
	prm    params
	root   string
	bin    string
	dir    string
	procs  *procs
	simURL string

	direct, goproxy, nginx, portkey, guard proxy
	vals                                   map[string]float64
	// others are the shares of the proxy's CPU that other processes took, per latency and max round.
	others []float64
}

func (r *runner) logf(format string, args ...any) {
	if r.o.Log != nil {
		fmt.Fprintf(r.o.Log, "guardbench: "+format+"\n", args...)
	}
}

// Run measures the guard and returns FigureNames' figures, in order.
func Run(ctx context.Context, o Options) ([]report.Figure, error) {
	began := time.Now()
	if o.WorkDir == "" {
		return nil, errors.New("guardbench: Options.WorkDir is required")
	}
	dir, err := filepath.Abs(o.WorkDir)
	if err != nil {
		return nil, err
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	r := &runner{o: o, prm: paramsFor(o.Short), root: root, dir: dir, bin: filepath.Join(dir, "bin"),
		procs: &procs{logDir: filepath.Join(dir, "logs")}, vals: map[string]float64{}}
	for _, d := range []string{r.bin, r.procs.logDir, filepath.Join(dir, "nginx")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	defer r.procs.stopAll()
	// Cancelling ctx stops every process at once, which ends whatever phase is waiting on one.
	defer context.AfterFunc(ctx, r.procs.stopAll)()

	figs, err := r.run(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("guardbench: %w (during: %v)", ctx.Err(), err)
		}
		return nil, fmt.Errorf("guardbench: %w", err)
	}
	r.logf("done in %s", time.Since(began).Round(100*time.Millisecond))
	return figs, nil
}

func (r *runner) run(ctx context.Context) ([]report.Figure, error) {
	if _, err := exec.LookPath("taskset"); err != nil {
		return nil, errors.New("taskset (util-linux) is needed to pin processes to CPUs")
	}
	if n := runtime.NumCPU(); n < 2 {
		return nil, fmt.Errorf("the proxies and the load need a CPU each; this process may use %d", n)
	}
	nginxBin, err := r.findNginx(ctx)
	if err != nil {
		return nil, err
	}
	portkeyScript, err := r.findPortkey(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.build(ctx); err != nil {
		return nil, err
	}
	if err := r.startAll(ctx, nginxBin, portkeyScript); err != nil {
		return nil, err
	}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"idle memory", r.idleRSS},
		{"latency at 1000 req/s", r.latency},
		{"max req/s", r.maxRPS},
		{"time to first event", r.ttft},
		{"memory with open streams", r.streamsRSS},
		{"retry amplification", r.retry},
		{"fallback under throttling", r.fallback},
		{"profile", r.profile},
	}
	for _, s := range steps {
		t0 := time.Now()
		if err := s.fn(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		r.logf("%s: %s", s.name, time.Since(t0).Round(10*time.Millisecond))
	}
	r.procs.stopAll() // quiet machine for the micro-benchmarks
	t0 := time.Now()
	microFigs, err := r.micro(ctx)
	if err != nil {
		return nil, fmt.Errorf("micro-benchmarks: %w", err)
	}
	r.logf("micro-benchmarks: %s", time.Since(t0).Round(10*time.Millisecond))
	figs, err := r.figures()
	if err != nil {
		return nil, err
	}
	figs = append(figs, microFigs...)
	for i, f := range figs {
		if i >= len(FigureNames) || f.Name != FigureNames[i] {
			return nil, fmt.Errorf("figure %d is %s, FigureNames says otherwise", i, f.Name)
		}
	}
	for _, line := range targetNotes(figs) {
		r.logf("%s", line)
	}
	if m := median(r.others); m > maxOthersShare {
		r.logf("WARNING: other processes took %.0f%% of CPU %s (median over the rounds) while proxies ran on it: "+
			"the latency figures of this run measure the machine's load more than the proxies", 100*m, proxyCPU)
	}
	return figs, nil
}

// repoRoot walks up from the working directory to the folder holding go.mod.
func repoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("no go.mod above the working directory: run from the repository")
		}
		d = parent
	}
}

func (r *runner) findNginx(ctx context.Context) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(r.root, "hack", "nginx.sh"))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("nginx is needed as a baseline and hack/nginx.sh could not provide it: %v: %s",
			err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// findPortkey installs Portkey's gateway at the version test/bench/portkey pins (hack/npm-ci.sh,
// into bin/portkey) and returns the path of its server script.
func (r *runner) findPortkey(ctx context.Context) (string, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return "", errors.New("node (Node.js 20 or later) is needed to run Portkey's gateway, the peer gateway baseline")
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(r.root, "hack", "npm-ci.sh"), "test/bench/portkey", "portkey")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("the peer gateway baseline (Portkey's) could not be installed by hack/npm-ci.sh: %v: %s",
			err, strings.TrimSpace(stderr.String()))
	}
	return filepath.Join(strings.TrimSpace(string(out)), "@portkey-ai", "gateway", "build", "start-server.js"), nil
}

// portkeyHeaders route a request through Portkey to an OpenAI-compatible upstream: its provider
// and custom host, the upstream's key passed as the bearer token (bearer is added by each phase).
func portkeyHeaders(simURL string) []string {
	return []string{"-H", "x-portkey-provider: openai", "-H", "x-portkey-custom-host: " + simURL + "/v1"}
}

// portkeyFallbackConfig is Portkey's config for the fault run: fallback from the first target to
// the second on 429, as the guard's endpoint falls back from primary to fallback.
func portkeyFallbackConfig(primaryURL, fallbackURL string) string {
	b, _ := json.Marshal(map[string]any{
		"strategy": map[string]any{"mode": "fallback", "on_status_codes": []int{429}},
		"targets": []map[string]string{
			{"provider": "openai", "api_key": openAIKey, "custom_host": primaryURL + "/v1"},
			{"provider": "openai", "api_key": openAIKey, "custom_host": fallbackURL + "/v1"},
		},
	})
	return string(b)
}

// build compiles the guard, the simulator, the load generator, the Go baseline proxy and the
// micro-benchmarks into WorkDir/bin.
func (r *runner) build(ctx context.Context) error {
	t0 := time.Now()
	cmds := [][]string{
		{"go", "build", "-o", r.bin + "/", "./cmd/guard", "./test/upstreamsim/cmd/upstreamsim",
			"./test/bench/guardbench/cmd/loadgen", "./test/bench/guardbench/cmd/goproxy"},
		{"go", "test", "-c", "-o", filepath.Join(r.bin, "micro.test"), "./test/bench/guardbench/micro"},
	}
	errs := make([]error, len(cmds))
	var wg sync.WaitGroup
	for i, c := range cmds {
		wg.Go(func() {
			cmd := exec.CommandContext(ctx, c[0], c[1:]...)
			cmd.Dir = r.root
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("%s: %v\n%s", strings.Join(c, " "), err, out)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	r.logf("built in %s", time.Since(t0).Round(10*time.Millisecond))
	return nil
}

func (r *runner) path(name string) string { return filepath.Join(r.bin, name) }

var awsEnv = []string{"AWS_ACCESS_KEY_ID=" + awsKeyID, "AWS_SECRET_ACCESS_KEY=" + awsSecret,
	"AWS_REGION=" + awsRegion, "AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null",
	"AWS_SHARED_CREDENTIALS_FILE=/dev/null"}

// startGuard starts cmd/guard as process name on free loopback ports with the given config and
// extra flags, and waits until it is ready; it returns the process, its app URL and admin URL.
func (r *runner) startGuard(ctx context.Context, name string, config []byte, extra ...string) (*proc, string, string, error) {
	cfgPath := filepath.Join(r.dir, name+".json")
	if err := os.WriteFile(cfgPath, config, 0o644); err != nil {
		return nil, "", "", err
	}
	app, err := freePort()
	if err != nil {
		return nil, "", "", err
	}
	admin, err := freePort()
	if err != nil {
		return nil, "", "", err
	}
	args := append([]string{"--config-file", cfgPath, "--listen", app, "--admin-listen", admin,
		"--shutdown-timeout", "1s"}, extra...)
	p, err := r.procs.start(name, proxyCPU, awsEnv, nil, r.path("guard"), args...)
	if err != nil {
		return nil, "", "", err
	}
	if err := waitHTTP(ctx, p, "http://"+admin+"/readyz", http.StatusOK, 15*time.Second); err != nil {
		return nil, "", "", fmt.Errorf("%w\n%s", err, r.procs.logTail(name))
	}
	return p, "http://" + app, "http://" + admin, nil
}

func routes(name string, p *proc, base string, guard bool) proxy {
	if guard {
		return proxy{name: name, p: p, chat: base + "/m/gpt/v1/chat/completions", stream: base + "/m/gpt/v1/chat/completions",
			converse: base + "/m/claude/model/" + bedrockModel + "/converse-stream"}
	}
	return proxy{name: name, p: p, chat: base + "/v1/chat/completions", stream: base + "/v1/chat/completions",
		converse: base + "/model/" + bedrockModel + "/converse-stream"}
}

func (r *runner) startAll(ctx context.Context, nginxBin, portkeyScript string) error {
	for name, body := range map[string]string{"chat.json": chatBody(false), "chat-stream.json": chatBody(true),
		"converse.json": converseBody(), "api-key": openAIKey + "\n"} {
		if err := os.WriteFile(filepath.Join(r.dir, name), []byte(body), 0o600); err != nil {
			return err
		}
	}
	simEnv := []string{"UPSTREAMSIM_SECRET_ACCESS_KEY=" + awsSecret, "UPSTREAMSIM_API_KEY=" + openAIKey}
	_, simURL, err := r.procs.startWithURL(ctx, "upstreamsim", loadCPU, simEnv, r.path("upstreamsim"),
		"-region", awsRegion, "-access-key-id", awsKeyID, "-output-tokens", strconv.Itoa(outputTokens))
	if err != nil {
		return err
	}
	r.simURL = simURL
	r.direct = routes("direct", nil, simURL, false)

	cfg, err := guardConfig(simURL, filepath.Join(r.dir, "api-key"), true)
	if err != nil {
		return err
	}
	gp, gURL, _, err := r.startGuard(ctx, "guard", cfg)
	if err != nil {
		return err
	}
	r.guard = routes("guard", gp, gURL, true)

	pp, pURL, err := r.procs.startWithURL(ctx, "goproxy", proxyCPU, nil, r.path("goproxy"), "-upstream", simURL)
	if err != nil {
		return err
	}
	r.goproxy = routes("goproxy", pp, pURL, false)

	ndir := filepath.Join(r.dir, "nginx")
	listen, err := freePort()
	if err != nil {
		return err
	}
	conf := filepath.Join(ndir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConfig(ndir, listen, strings.TrimPrefix(simURL, "http://"))), 0o644); err != nil {
		return err
	}
	np, err := r.procs.start("nginx", proxyCPU, nil, nil, nginxBin, "-e", filepath.Join(ndir, "nginx-error.log"), "-p", ndir+"/", "-c", conf)
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, np, "http://"+listen+"/_sim/faults", http.StatusOK, 15*time.Second); err != nil {
		b, _ := os.ReadFile(filepath.Join(ndir, "nginx-error.log"))
		return fmt.Errorf("nginx: %w\n%s%s", err, r.procs.logTail("nginx"), b)
	}
	r.nginx = routes("nginx", np, "http://"+listen, false)

	// Portkey as its README runs it (`npx @portkey-ai/gateway`), without the console UI; Node's
	// worker threads count against the proxy CPU too (CPU is measured over the process tree).
	pkListen, err := freePort()
	if err != nil {
		return err
	}
	_, pkPort, _ := strings.Cut(pkListen, ":")
	pk, err := r.procs.start("portkey", proxyCPU, []string{"NODE_ENV=production"}, nil, "node", portkeyScript,
		"--port="+pkPort, "--headless")
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, pk, "http://"+pkListen+"/", http.StatusOK, 30*time.Second); err != nil {
		return fmt.Errorf("portkey: %w\n%s", err, r.procs.logTail("portkey"))
	}
	r.portkey = routes("portkey", pk, "http://"+pkListen, false)
	r.portkey.converse = ""
	r.portkey.header = portkeyHeaders(simURL)
	r.logf("upstream %s, guard %s, goproxy %s, nginx http://%s, portkey http://%s", simURL, gURL, pURL, listen, pkListen)
	return nil
}

// load runs the load generator pinned to the load CPU and returns its result. onLine, when set,
// gets every stdout line but the last (streams mode's ready line).
func (r *runner) load(ctx context.Context, name string, onLine func(loadgen.Result), args ...string) (loadgen.Result, error) {
	pr, pw := io.Pipe()
	p, err := r.procs.start("loadgen-"+name, loadCPU, nil, pw, r.path("loadgen"), args...)
	if err != nil {
		return loadgen.Result{}, err
	}
	go func() { <-p.done; pw.Close() }()
	var last []byte
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if last != nil && onLine != nil {
			var res loadgen.Result
			if json.Unmarshal(last, &res) == nil {
				onLine(res)
			}
		}
		last = append([]byte(nil), sc.Bytes()...)
	}
	<-p.done
	if p.err != nil || last == nil {
		return loadgen.Result{}, fmt.Errorf("load generator %s: %v\n%s", name, p.err, r.procs.logTail("loadgen-"+name))
	}
	var res loadgen.Result
	if err := json.Unmarshal(last, &res); err != nil {
		return loadgen.Result{}, fmt.Errorf("load generator %s printed %q: %w", name, last, err)
	}
	return res, ctx.Err()
}

func secs(d time.Duration) string { return d.String() }

// answered checks that a phase's requests succeeded: a figure from failed requests would be a lie.
func answered(what string, res loadgen.Result) error {
	if res.OK == 0 || res.Errors*100 > res.Measured {
		return fmt.Errorf("%s: %d of %d requests failed (statuses %v, first error: %s)", what, res.Errors, res.Measured, res.Statuses, res.FirstError)
	}
	return nil
}

var bearer = []string{"-H", "Authorization: Bearer " + openAIKey}

func (r *runner) idleRSS(ctx context.Context) error {
	// Started and ready, no request yet; a moment for start-up garbage to settle.
	time.Sleep(300 * time.Millisecond)
	for _, px := range []proxy{r.guard, r.goproxy, r.portkey} {
		st, err := procStatus(px.p.pid(), "VmRSS", "RssAnon", "RssFile")
		if err != nil {
			return err
		}
		r.vals[px.name+"_rss_idle_mib"] = st["VmRSS"]
		r.logf("%s idle: %.1f MiB resident (%.1f MiB anonymous, %.1f MiB file-backed: the binary's pages)",
			px.name, st["VmRSS"], st["RssAnon"], st["RssFile"])
	}
	return ctx.Err()
}

// samples are per-round values by name; each figure is their median, so that one round hit by
// other load on the machine does not decide it.
type samples map[string][]float64

func (s samples) add(name string, v float64) { s[name] = append(s[name], v) }

// into stores the median of every sample in vals.
func (s samples) into(vals map[string]float64) {
	for name, vs := range s {
		vals[name] = median(vs)
	}
}

// median of the values (the mean of the middle two for an even count); 0 for none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// cpuMeter measures, over one phase, the CPU a proxy used and what everything else used of the
// proxy's CPU (other load on a shared machine, which the proxy had to wait for).
type cpuMeter struct {
	pid         int
	proc0, cpu0 float64
	t0          time.Time
}

func startMeter(p *proc) cpuMeter {
	m := cpuMeter{t0: time.Now()}
	if p != nil {
		m.pid = p.pid()
		m.proc0, _ = cpuSecondsTree(m.pid)
	}
	m.cpu0, _ = cpuBusySeconds(proxyCPU)
	return m
}

// stop returns the proxy's CPU seconds and the share of the proxy CPU others used.
func (m cpuMeter) stop() (proxySeconds, othersShare float64) {
	wall := time.Since(m.t0).Seconds()
	if m.pid != 0 {
		p1, _ := cpuSecondsTree(m.pid)
		proxySeconds = p1 - m.proc0
	}
	c1, _ := cpuBusySeconds(proxyCPU)
	return proxySeconds, max(c1-m.cpu0-proxySeconds, 0) / wall
}

// latency runs the open-loop phase at the target rate through each proxy and straight, in rounds.
// Added latency is taken per round (proxy minus direct of the same round), then the median.
func (r *runner) latency(ctx context.Context) error {
	body := filepath.Join(r.dir, "chat.json")
	s := samples{}
	for round := range r.prm.rounds {
		for _, px := range []proxy{r.direct, r.goproxy, r.nginx, r.portkey, r.guard} {
			meter := startMeter(px.p)
			args := append(append([]string{"-mode", "rate", "-rate", fmt.Sprint(r.prm.rate), "-warmup", secs(r.prm.latWarmup),
				"-duration", secs(r.prm.latDur), "-url", px.chat, "-body", body}, bearer...), px.header...)
			res, err := r.load(ctx, fmt.Sprintf("latency-%s-%d", px.name, round), nil, args...)
			if err != nil {
				return err
			}
			if err := answered(px.name, res); err != nil {
				return err
			}
			s.add(px.name+"_p50_us", res.P50US)
			s.add(px.name+"_p99_us", res.P99US)
			line := fmt.Sprintf("round %d %s at %g req/s: p50 %.0fus p90 %.0fus p99 %.0fus p99.9 %.0fus max %.0fus, %.0f B/answer",
				round, px.name, r.prm.rate, res.P50US, res.P90US, res.P99US, res.P999US, res.MaxUS, res.BytesPerResponse)
			used, others := meter.stop()
			r.others = append(r.others, others)
			line += fmt.Sprintf(", others used %.0f%% of CPU %s", 100*others, proxyCPU)
			if px.p != nil {
				// CPU seconds per 1000 requests is the cores used at 1000 req/s.
				cpu := used * 1000 / float64(res.Sent)
				s.add(px.name+"_cpu_per_1k_rps", cpu)
				line += fmt.Sprintf(", %.3f CPU per 1000 req/s", cpu)
				n := len(s[px.name+"_p50_us"]) - 1
				s.add(px.name+"_added_p50_us", res.P50US-s["direct_p50_us"][n])
				s.add(px.name+"_added_p99_us", res.P99US-s["direct_p99_us"][n])
			}
			r.logf("%s", line)
		}
	}
	s.into(r.vals)
	return nil
}

// maxRPS runs the closed-loop phase through each proxy, in rounds.
func (r *runner) maxRPS(ctx context.Context) error {
	body := filepath.Join(r.dir, "chat.json")
	s := samples{}
	for round := range r.prm.rounds {
		for _, px := range []proxy{r.direct, r.goproxy, r.nginx, r.portkey, r.guard} {
			meter := startMeter(px.p)
			args := append(append([]string{"-mode", "max", "-concurrency", strconv.Itoa(r.prm.maxConc), "-warmup", secs(r.prm.maxWarmup),
				"-duration", secs(r.prm.maxDur), "-url", px.chat, "-body", body}, bearer...), px.header...)
			res, err := r.load(ctx, fmt.Sprintf("max-%s-%d", px.name, round), nil, args...)
			if err != nil {
				return err
			}
			if err := answered(px.name, res); err != nil {
				return err
			}
			used, others := meter.stop()
			r.others = append(r.others, others)
			line := fmt.Sprintf("round %d %s closed loop (%d workers): %.0f req/s, p50 %.0fus, others used %.0f%% of CPU %s",
				round, px.name, r.prm.maxConc, res.RPS, res.P50US, 100*others, proxyCPU)
			if px.p != nil {
				if used <= 0 {
					return fmt.Errorf("%s: no CPU time measured over the closed-loop phase", px.name)
				}
				// Requests per CPU-second of the proxy: the rate one whole CPU gives. It is the
				// measured rate when the proxy filled its CPU, and stays right when it could not
				// (others' load on its CPU, or the load generator's CPU full first).
				// Every request sent was answered (the load generator waits for them all), over the
				// whole run the CPU was measured for; failed ones are discounted.
				perCPU := float64(res.Sent) * float64(res.OK) / float64(res.Measured) / used
				s.add(px.name+"_max_rps_1cpu", perCPU)
				line += fmt.Sprintf(", proxy busy %.2f of its CPU: %.0f req per CPU-second", used/res.WallSeconds, perCPU)
			}
			r.logf("%s", line)
		}
	}
	s.into(r.vals)
	return nil
}

// ttft measures the time to the first streamed event, SSE and AWS event stream, in rounds.
func (r *runner) ttft(ctx context.Context) error {
	signing := []string{"-sign-region", awsRegion, "-sign-service", "bedrock", "-sign-key-id", awsKeyID, "-sign-secret", awsSecret}
	kinds := []struct {
		stem, framing, body string
		url                 func(proxy) string
		extra               []string
	}{
		{"ttft", loadgen.FirstEventSSE, "chat-stream.json", func(p proxy) string { return p.stream }, bearer},
		{"ttft_bedrock", loadgen.FirstEventEventStream, "converse.json", func(p proxy) string { return p.converse }, signing},
	}
	s := samples{}
	for round := range r.prm.rounds {
		for _, k := range kinds {
			for _, px := range []proxy{r.direct, r.goproxy, r.portkey, r.guard} {
				if k.url(px) == "" {
					continue // Portkey answers Bedrock calls only by translating OpenAI ones
				}
				args := append(append([]string{"-mode", "rate", "-rate", fmt.Sprint(r.prm.ttftRate), "-warmup", secs(r.prm.ttftWarmup),
					"-duration", secs(r.prm.ttftDur), "-first-event", k.framing, "-url", k.url(px),
					"-body", filepath.Join(r.dir, k.body)}, k.extra...), px.header...)
				res, err := r.load(ctx, fmt.Sprintf("%s-%s-%d", k.stem, px.name, round), nil, args...)
				if err != nil {
					return err
				}
				if err := answered(k.stem+" "+px.name, res); err != nil {
					return err
				}
				s.add(px.name+"_"+k.stem+"_p50_us", res.P50US)
				s.add(px.name+"_"+k.stem+"_p99_us", res.P99US)
				if px.p != nil {
					n := len(s[px.name+"_"+k.stem+"_p50_us"]) - 1
					s.add(px.name+"_"+k.stem+"_added_p50_us", res.P50US-s["direct_"+k.stem+"_p50_us"][n])
					s.add(px.name+"_"+k.stem+"_added_p99_us", res.P99US-s["direct_"+k.stem+"_p99_us"][n])
				}
				r.logf("round %d %s %s: first event p50 %.0fus p99 %.0fus", round, k.stem, px.name, res.P50US, res.P99US)
			}
		}
	}
	s.into(r.vals)
	return nil
}

// setFaults replaces the simulator's faults through its control API.
func (r *runner) setFaults(ctx context.Context, faults string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, r.simURL+"/_sim/faults", strings.NewReader(faults))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("set simulator faults %s: %s: %s", faults, resp.Status, b)
	}
	return nil
}

// upstreamRequests is the number of requests the simulator has seen, on every route.
func (r *runner) upstreamRequests(ctx context.Context) (int64, error) {
	return simRequests(ctx, r.simURL)
}

// simRequests is the number of requests the simulator at simURL has seen, on every route.
func simRequests(ctx context.Context, simURL string) (int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, simURL+"/_sim/stats", http.NoBody)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st struct{ Requests map[string]int64 }
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, fmt.Errorf("simulator stats: %w", err)
	}
	var n int64
	for _, v := range st.Requests {
		n += v
	}
	return n, nil
}

func (r *runner) streamsRSS(ctx context.Context) error {
	// Every stream stops after its first content event and is held open until the client goes.
	if err := r.setFaults(ctx, `{"stallAfterEvents":1}`); err != nil {
		return err
	}
	for _, px := range []proxy{r.guard, r.goproxy, r.portkey} {
		var peak float64
		var sampleErr error
		onReady := func(ready loadgen.Result) {
			if ready.Open < int64(r.prm.streams) {
				sampleErr = fmt.Errorf("%s: only %d of %d streams opened", px.name, ready.Open, r.prm.streams)
			}
			// Sample through most of the hold; the figure is the peak.
			until := time.Now().Add(r.prm.hold * 8 / 10)
			for {
				v, err := rssMiB(px.p.pid())
				if err != nil {
					sampleErr = err
					return
				}
				peak = max(peak, v)
				if time.Now().After(until) {
					return
				}
				time.Sleep(25 * time.Millisecond)
			}
		}
		args := append([]string{"-mode", "streams", "-streams", strconv.Itoa(r.prm.streams), "-concurrency", "50",
			"-duration", secs(r.prm.hold), "-first-event", loadgen.FirstEventSSE, "-url", px.stream,
			"-body", filepath.Join(r.dir, "chat-stream.json")}, bearer...)
		args = append(args, px.header...)
		res, err := r.load(ctx, "streams-"+px.name, onReady, args...)
		if err != nil {
			return err
		}
		if sampleErr != nil {
			return sampleErr
		}
		if peak == 0 {
			return fmt.Errorf("%s: the load generator never reported its streams open (statuses %v, first error: %s)", px.name, res.Statuses, res.FirstError)
		}
		r.vals[px.name+"_rss_1000_streams_mib"] = peak
		r.logf("%s with %d open streams: %.1f MiB resident (idle %.1f MiB)", px.name, r.prm.streams, peak, r.vals[px.name+"_rss_idle_mib"])
	}
	return r.setFaults(ctx, `{}`)
}

// amplification runs failing requests through a proxy and returns upstream attempts per request.
func (r *runner) amplification(ctx context.Context, px proxy, d time.Duration) (float64, error) {
	before, err := r.upstreamRequests(ctx)
	if err != nil {
		return 0, err
	}
	args := append([]string{"-mode", "rate", "-rate", fmt.Sprint(r.prm.retryRate), "-duration", secs(d),
		"-url", px.chat, "-body", filepath.Join(r.dir, "chat.json")}, bearer...)
	res, err := r.load(ctx, "retry-"+px.name, nil, args...)
	if err != nil {
		return 0, err
	}
	after, err := r.upstreamRequests(ctx)
	if err != nil {
		return 0, err
	}
	if res.Sent == 0 {
		return 0, errors.New("no request sent")
	}
	amp := float64(after-before) / float64(res.Sent)
	r.logf("%s with the upstream failing: %d requests, %d upstream attempts (%.3f), statuses %v",
		px.name, res.Sent, after-before, amp, res.Statuses)
	return amp, nil
}

func (r *runner) retry(ctx context.Context) error {
	if err := r.setFaults(ctx, `{"errorRate":1,"errorStatus":503}`); err != nil {
		return err
	}
	var err error
	// The guard with every protection: its breakers open and stay open (run this phase last).
	if r.vals["guard_retry_amplification"], err = r.amplification(ctx, r.guard, r.prm.retryDur); err != nil {
		return err
	}
	if r.vals["goproxy_retry_amplification"], err = r.amplification(ctx, r.goproxy, r.prm.retryGoDur); err != nil {
		return err
	}
	// A second guard with the breakers held closed: the retry budget alone.
	cfg, err := guardConfig(r.simURL, filepath.Join(r.dir, "api-key"), false)
	if err != nil {
		return err
	}
	p, url, _, err := r.startGuard(ctx, "guard-budget-only", cfg)
	if err != nil {
		return err
	}
	defer p.stop()
	if r.vals["guard_retry_amplification_budget_only"], err = r.amplification(ctx, routes("guard-budget-only", p, url, true), r.prm.retryDur); err != nil {
		return err
	}
	r.vals["retry_budget_bound"] = 1 + budgetRatio
	return r.setFaults(ctx, `{}`)
}

// fallback is the fault run with a fallback configured in both the guard and Portkey: the primary
// upstream throttles 60 % of requests, a second simulator stands healthy behind it. It measures the
// share of app requests that still failed and the upstream attempts per app request.
func (r *runner) fallback(ctx context.Context) error {
	simEnv := []string{"UPSTREAMSIM_SECRET_ACCESS_KEY=" + awsSecret, "UPSTREAMSIM_API_KEY=" + openAIKey}
	fp, fbURL, err := r.procs.startWithURL(ctx, "upstreamsim-fallback", loadCPU, simEnv, r.path("upstreamsim"),
		"-region", awsRegion, "-access-key-id", awsKeyID, "-output-tokens", strconv.Itoa(outputTokens))
	if err != nil {
		return err
	}
	defer fp.stop()
	cfg, err := guardConfigWithFallback(r.simURL, fbURL, filepath.Join(r.dir, "api-key"), true)
	if err != nil {
		return err
	}
	gp, gURL, _, err := r.startGuard(ctx, "guard-fallback", cfg)
	if err != nil {
		return err
	}
	defer gp.stop()
	if err := r.setFaults(ctx, `{"throttleRate":0.6}`); err != nil {
		return err
	}
	pk := r.portkey
	pk.header = []string{"-H", "x-portkey-config: " + portkeyFallbackConfig(r.simURL, fbURL)}
	for _, px := range []proxy{routes("guard", gp, gURL, true), pk} {
		before, err := r.allUpstreamRequests(ctx, fbURL)
		if err != nil {
			return err
		}
		args := append(append([]string{"-mode", "rate", "-rate", fmt.Sprint(r.prm.retryRate), "-duration", secs(r.prm.fallbackDur),
			"-url", px.chat, "-body", filepath.Join(r.dir, "chat.json")}, bearer...), px.header...)
		res, err := r.load(ctx, "fallback-"+px.name, nil, args...)
		if err != nil {
			return err
		}
		after, err := r.allUpstreamRequests(ctx, fbURL)
		if err != nil {
			return err
		}
		if res.Sent == 0 || res.Measured == 0 {
			return fmt.Errorf("%s: no request sent", px.name)
		}
		failed := float64(res.Errors) / float64(res.Measured)
		attempts := float64(after-before) / float64(res.Sent)
		r.vals[px.name+"_fallback_failed_share"] = failed
		r.vals[px.name+"_fallback_attempts_per_request"] = attempts
		r.logf("%s with the primary throttling 60%% and a fallback: %d requests, %.2f%% failed, %.3f upstream attempts per request, statuses %v",
			px.name, res.Sent, 100*failed, attempts, res.Statuses)
	}
	return r.setFaults(ctx, `{}`)
}

// allUpstreamRequests is the requests both simulators of the fault run have seen.
func (r *runner) allUpstreamRequests(ctx context.Context, fallbackURL string) (int64, error) {
	a, err := simRequests(ctx, r.simURL)
	if err != nil {
		return 0, err
	}
	b, err := simRequests(ctx, fallbackURL)
	return a + b, err
}

// profile (full runs only) takes CPU profiles of the guard, started with --pprof: one at the
// latency phases' rate, one at saturation. It writes them and their top functions to WorkDir.
func (r *runner) profile(ctx context.Context) error {
	if !r.prm.profile {
		return nil
	}
	cfg, err := guardConfig(r.simURL, filepath.Join(r.dir, "api-key"), true)
	if err != nil {
		return err
	}
	p, url, admin, err := r.startGuard(ctx, "guard-profile", cfg, "--pprof")
	if err != nil {
		return err
	}
	defer p.stop()
	px := routes("guard-profile", p, url, true)
	body := filepath.Join(r.dir, "chat.json")
	loads := []struct {
		name string
		args []string
	}{
		{"1000rps", []string{"-mode", "rate", "-rate", fmt.Sprint(r.prm.rate), "-duration", "10s"}},
		{"max", []string{"-mode", "max", "-concurrency", strconv.Itoa(r.prm.maxConc), "-duration", "10s"}},
	}
	for _, l := range loads {
		profPath := filepath.Join(r.dir, "guard-cpu-"+l.name+".pprof")
		var profErr error
		var wg sync.WaitGroup
		wg.Go(func() {
			time.Sleep(time.Second)
			profErr = fetch(ctx, admin+"/debug/pprof/profile?seconds=8", profPath)
		})
		args := append(append(l.args, "-url", px.chat, "-body", body), bearer...)
		res, err := r.load(ctx, "profile-"+l.name, nil, args...)
		wg.Wait()
		if err != nil {
			return err
		}
		if profErr != nil {
			return profErr
		}
		cmd := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-cum", "-nodecount=40", r.path("guard"), profPath)
		cmd.Dir = r.root
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("go tool pprof: %w", err)
		}
		topPath := strings.TrimSuffix(profPath, ".pprof") + "-top.txt"
		if err := os.WriteFile(topPath, out, 0o644); err != nil {
			return err
		}
		r.logf("guard --pprof %s: %.0f req/s; CPU profile %s, top functions by cumulative time in %s", l.name, res.RPS, profPath, topPath)
	}
	return nil
}

func fetch(ctx context.Context, url, path string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (r *runner) micro(ctx context.Context) ([]report.Figure, error) {
	cmd := exec.CommandContext(ctx, "taskset", "-c", proxyCPU, r.path("micro.test"), "-test.run", "^$", "-test.bench", ".",
		"-test.benchmem", "-test.benchtime", r.prm.benchtime)
	cmd.Dir = filepath.Join(r.root, "test", "bench", "guardbench", "micro")
	out, err := cmd.CombinedOutput()
	if err := os.WriteFile(filepath.Join(r.procs.logDir, "micro.log"), out, 0o644); err != nil {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%v\n%s", err, out)
	}
	res, err := parseBench(string(out))
	if err != nil {
		return nil, err
	}
	r.logf("micro-benchmarks:\n%s", strings.TrimSpace(string(out)))
	return microFigures(res, float64(len(micro.Body4KB))/1024)
}

// figures assembles the measured values into the macro figures, in FigureNames' order.
func (r *runner) figures() ([]report.Figure, error) {
	type spec struct{ name, value, unit, baseline string }
	specs := []spec{
		{"guard_added_p50_us", "guard_added_p50_us", "us", "goproxy_added_p50_us"},
		{"guard_added_p99_us", "guard_added_p99_us", "us", "goproxy_added_p99_us"},
		{"guard_added_p50_us_vs_nginx", "guard_added_p50_us", "us", "nginx_added_p50_us"},
		{"guard_added_p99_us_vs_nginx", "guard_added_p99_us", "us", "nginx_added_p99_us"},
		{"guard_p50_us", "guard_p50_us", "us", "direct_p50_us"},
		{"guard_p99_us", "guard_p99_us", "us", "direct_p99_us"},
		{"guard_max_rps_1cpu", "guard_max_rps_1cpu", "req/s", "goproxy_max_rps_1cpu"},
		{"guard_max_rps_1cpu_vs_nginx", "guard_max_rps_1cpu", "req/s", "nginx_max_rps_1cpu"},
		{"guard_cpu_per_1k_rps", "guard_cpu_per_1k_rps", "cores", "goproxy_cpu_per_1k_rps"},
		{"guard_rss_idle_mib", "guard_rss_idle_mib", "MiB", "goproxy_rss_idle_mib"},
		{"guard_rss_1000_streams_mib", "guard_rss_1000_streams_mib", "MiB", "goproxy_rss_1000_streams_mib"},
		{"guard_ttft_added_p50_us", "guard_ttft_added_p50_us", "us", "goproxy_ttft_added_p50_us"},
		{"guard_ttft_added_p99_us", "guard_ttft_added_p99_us", "us", "goproxy_ttft_added_p99_us"},
		{"guard_ttft_bedrock_added_p50_us", "guard_ttft_bedrock_added_p50_us", "us", "goproxy_ttft_bedrock_added_p50_us"},
		{"guard_ttft_bedrock_added_p99_us", "guard_ttft_bedrock_added_p99_us", "us", "goproxy_ttft_bedrock_added_p99_us"},
		{"guard_retry_amplification", "guard_retry_amplification", "attempts/request", "goproxy_retry_amplification"},
		{"guard_retry_amplification_budget_only", "guard_retry_amplification_budget_only", "attempts/request", "retry_budget_bound"},
		{"guard_added_p50_us_vs_portkey", "guard_added_p50_us", "us", "portkey_added_p50_us"},
		{"guard_added_p99_us_vs_portkey", "guard_added_p99_us", "us", "portkey_added_p99_us"},
		{"guard_max_rps_1cpu_vs_portkey", "guard_max_rps_1cpu", "req/s", "portkey_max_rps_1cpu"},
		{"guard_cpu_per_1k_rps_vs_portkey", "guard_cpu_per_1k_rps", "cores", "portkey_cpu_per_1k_rps"},
		{"guard_rss_idle_mib_vs_portkey", "guard_rss_idle_mib", "MiB", "portkey_rss_idle_mib"},
		{"guard_rss_1000_streams_mib_vs_portkey", "guard_rss_1000_streams_mib", "MiB", "portkey_rss_1000_streams_mib"},
		{"guard_ttft_added_p50_us_vs_portkey", "guard_ttft_added_p50_us", "us", "portkey_ttft_added_p50_us"},
		{"guard_ttft_added_p99_us_vs_portkey", "guard_ttft_added_p99_us", "us", "portkey_ttft_added_p99_us"},
		{"guard_fallback_failed_share", "guard_fallback_failed_share", "share", "portkey_fallback_failed_share"},
		{"guard_fallback_attempts_per_request", "guard_fallback_attempts_per_request", "attempts/request", "portkey_fallback_attempts_per_request"},
	}
	var figs []report.Figure
	for _, s := range specs {
		v, ok1 := r.vals[s.value]
		b, ok2 := r.vals[s.baseline]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("figure %s: %s or %s was not measured", s.name, s.value, s.baseline)
		}
		figs = append(figs, report.New(s.name, v, s.unit, s.baseline, b))
	}
	return figs, nil
}

// Package managerbench measures the manager at scale for `make bench`: how long 1000
// GenAIWorkloads take to become Ready, how many API writes per minute the manager makes once they
// have settled, and its resident memory with them. It runs the real thing: the manager binary built
// from cmd/manager as a process of its own (so its RSS is its own), against the envtest control
// plane (kube-apiserver and etcd) and a real Prometheus that its control loops query. Every figure
// comes with a baseline measured in the same run (see docs/benchmarks.md).
package managerbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/test/bench/report"
	"github.com/breakwater-dev/breakwater/test/localproc"
	"github.com/breakwater-dev/breakwater/test/promtest"
	"github.com/breakwater-dev/breakwater/test/testenv"
)

// Names of the figures, as in issue #7. The short run produces them too, from 50 workloads.
const (
	FigureReconcile    = "manager_reconcile_1000_s"
	FigureSteadyWrites = "manager_steady_writes_per_min"
	FigureRSS          = "manager_rss_1000_mib"
)

// FigureNames are the figures Run returns, in order.
var FigureNames = []string{FigureReconcile, FigureSteadyWrites, FigureRSS}

// Options configure Run.
type Options struct {
	// Short runs a smoke test in about 20 s: 50 workloads, a 2 s evaluation interval and an 8 s
	// steady window, instead of 1000 workloads, 5 s and 60 s (about 2 minutes). The figures keep
	// their names.
	Short bool
	// WorkDir holds the manager binary, kubeconfig, Prometheus' data and every process's log
	// (e.g. bin/bench/manager). Created if missing; earlier contents are overwritten.
	WorkDir string
	// Log receives progress and the breakdowns behind the figures; nil discards them.
	Log io.Writer
	// ProfileDir, when set, runs the manager with --pprof-bind-address on loopback and writes into
	// ProfileDir a CPU profile of the reconcile of the workloads (reconcile.cpu.pprof), one of the
	// steady window (steady.cpu.pprof) and the heap at its end (steady.heap.pprof). Read them with
	// `go tool pprof -top <WorkDir>/manager <profile>`. Profiling costs a little CPU, so the
	// figures of such a run are slightly pessimistic.
	ProfileDir string
}

// settings are what Short changes.
type settings struct {
	workloads int
	// interval is the manager's --evaluation-interval: how often each ModelEndpoint, TokenQuota
	// and FailoverPolicy queries Prometheus and re-evaluates.
	interval time.Duration
	// settle is how long the manager is left alone after its queues drained, before the steady
	// window starts (Events are sent in the background).
	settle time.Duration
	// window is the steady window over which writes are counted.
	window time.Duration
	// readyLimit is how long the workloads get to become Ready before the run fails.
	readyLimit time.Duration
	// reconcileProfile is how long the CPU profile of the reconcile runs (Options.ProfileDir).
	reconcileProfile time.Duration
}

func settingsFor(short bool) settings {
	if short {
		return settings{
			workloads: 50, interval: 2 * time.Second, settle: time.Second, window: 8 * time.Second,
			readyLimit: time.Minute, reconcileProfile: 3 * time.Second,
		}
	}
	return settings{
		workloads: 1000, interval: 5 * time.Second, settle: 5 * time.Second, window: time.Minute,
		readyLimit: 10 * time.Minute, reconcileProfile: 30 * time.Second,
	}
}

// Run builds and starts everything, measures, stops everything it started (also on error or
// cancellation) and returns the figures named in FigureNames.
func Run(ctx context.Context, o Options) (figs []report.Figure, err error) {
	b := &bench{o: o, s: settingsFor(o.Short), start: time.Now()}
	b.procs.LogDir = o.WorkDir
	if b.o.Log == nil {
		b.o.Log = io.Discard
	}
	if b.o.WorkDir == "" {
		return nil, errors.New("managerbench: Options.WorkDir is required")
	}
	if b.o.WorkDir, err = filepath.Abs(b.o.WorkDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(b.o.WorkDir, 0o755); err != nil {
		return nil, err
	}
	defer b.stopAll()
	figs, err = b.run(ctx)
	if err != nil {
		return nil, fmt.Errorf("managerbench: %w", err)
	}
	return figs, nil
}

type bench struct {
	o     Options
	s     settings
	start time.Time

	env     *testenv.Env
	client  client.WithWatch
	kube    *kubernetes.Clientset
	procs   localproc.Group
	manager *localproc.Proc
	// managerMetrics is the URL of the manager's /metrics (plain HTTP on loopback).
	managerMetrics string
	// pprof is the URL of the manager's /debug/pprof/, or "".
	pprof string
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.o.Log, "managerbench %6.1fs: %s\n", time.Since(b.start).Seconds(), fmt.Sprintf(format, args...))
}

// stopAll stops what was started, newest first.
func (b *bench) stopAll() {
	b.procs.StopAll(10 * time.Second)
	if b.env != nil {
		if err := b.env.Stop(); err != nil {
			b.logf("stopping the control plane: %v", err)
		}
	}
	b.logf("stopped everything it started")
}

func (b *bench) run(ctx context.Context) ([]report.Figure, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return nil, err
	}
	smp, err := loadSamples(root)
	if err != nil {
		return nil, err
	}
	fl := newFleet(b.s.workloads)
	b.logf("%d GenAIWorkloads in %d namespaces, a ModelEndpoint per %d, evaluation interval %s, steady window %s",
		fl.workloads, fl.namespaces, workloadsPerEndpoint, b.s.interval, b.s.window)
	if err := b.startAll(ctx, root); err != nil {
		return nil, err
	}

	// What the workloads reference, and the control loops' objects; then the 0-workload baseline.
	t := time.Now()
	support := fl.supporting(smp)
	if err := createAll(ctx, b.client, support); err != nil {
		return nil, err
	}
	if err := b.waitLoopsReady(ctx, 60*time.Second); err != nil {
		return nil, err
	}
	if err := b.waitQuiet(ctx); err != nil {
		return nil, err
	}
	b.logf("%d supporting objects (namespaces, endpoints, backends, quotas, policies, Deployments) created and reconciled in %.1fs",
		len(support), time.Since(t).Seconds())
	if err := sleep(ctx, b.s.settle); err != nil {
		return nil, err
	}
	mem0, err := readMemory(b.manager.Pid())
	if err != nil {
		return nil, err
	}
	b.logf("manager with 0 workloads: %s", mem0)

	workloads := fl.genAIWorkloads(smp)
	reconcileTime, createTime, initialPerMin, err := b.measureReconcile(ctx, workloads)
	if err != nil {
		return nil, err
	}
	steadyPerMin, mem1, err := b.measureSteady(ctx)
	if err != nil {
		return nil, err
	}
	b.logf("manager with %d workloads: %s", len(workloads), mem1)
	b.logf("done in %.1fs", time.Since(b.start).Seconds())

	return []report.Figure{
		report.New(FigureReconcile, reconcileTime.Seconds(), "s",
			fmt.Sprintf("bench client creating the %d GenAIWorkloads", len(workloads)), createTime.Seconds()),
		report.New(FigureSteadyWrites, steadyPerMin, "writes/min",
			"manager's writes/min while reconciling them", initialPerMin),
		report.New(FigureRSS, mib(mem1.peakKiB), "MiB",
			"manager's peak RSS with 0 workloads", mib(mem0.peakKiB)),
	}, nil
}

// startAll builds the manager while the control plane and Prometheus start, then starts it.
func (b *bench) startAll(ctx context.Context, root string) error {
	binary := filepath.Join(b.o.WorkDir, "manager")
	pkg := "./cmd/manager"
	if b.o.ProfileDir != "" {
		if err := os.MkdirAll(b.o.ProfileDir, 0o755); err != nil {
			return err
		}
	}
	built := make(chan error, 1)
	go func() { built <- b.buildManager(ctx, root, pkg, binary) }()
	promURL, err := b.startControlPlaneAndPrometheus(ctx)
	if berr := <-built; err == nil {
		err = berr
	}
	if err != nil {
		return err
	}
	t := time.Now()
	if err := b.startManager(ctx, binary, promURL); err != nil {
		return err
	}
	b.logf("manager ready (pid %d) in %.1fs", b.manager.Pid(), time.Since(t).Seconds())
	return nil
}

// startControlPlaneAndPrometheus starts kube-apiserver and etcd with the CRDs and the webhook
// configuration, the bench's clients, and Prometheus; it returns Prometheus' URL.
func (b *bench) startControlPlaneAndPrometheus(ctx context.Context) (string, error) {
	t := time.Now()
	env, err := testenv.StartWithWebhooks()
	if err != nil {
		return "", err
	}
	b.env = env
	b.logf("control plane (kube-apiserver, etcd, CRDs, webhook configuration) started in %.1fs", time.Since(t).Seconds())
	if err := b.clients(); err != nil {
		return "", err
	}
	t = time.Now()
	// No guard runs here, but the manager's control loops query Prometheus as they would in
	// production (and get no data).
	prom, err := promtest.Start(ctx, &b.procs, filepath.Join(b.o.WorkDir, "prometheus"),
		"global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs: []\n")
	if err != nil {
		return "", err
	}
	b.logf("Prometheus ready at %s in %.1fs", prom.URL, time.Since(t).Seconds())
	return prom.URL, nil
}

// measureReconcile creates the workloads and waits until all are Ready. It returns the time from
// the first create to the last Ready, the time the creates took, and the manager's writes per
// minute meanwhile.
func (b *bench) measureReconcile(ctx context.Context, workloads []client.Object) (reconcile, create time.Duration, writesPerMin float64, err error) {
	before, err := b.snapshot(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	readyCtx, cancelReady := context.WithTimeout(ctx, b.s.readyLimit)
	defer cancelReady()
	ready := make(chan readyResult, 1)
	watching := make(chan struct{})
	go func() { ready <- waitWorkloadsReady(readyCtx, b.client, len(workloads), watching) }()
	<-watching
	profile := b.cpuProfile(ctx, "reconcile.cpu.pprof", b.s.reconcileProfile)
	t := time.Now()
	if err := createAll(ctx, b.client, workloads); err != nil {
		return 0, 0, 0, err
	}
	create = time.Since(t)
	b.logf("the bench created %d GenAIWorkloads in %.2fs", len(workloads), create.Seconds())
	var res readyResult
	select {
	case res = <-ready:
	case <-b.manager.Done():
		return 0, 0, 0, b.manager.Alive()
	}
	if res.err != nil {
		return 0, 0, 0, fmt.Errorf("%d of %d GenAIWorkloads Ready after %s: %w", res.ready, len(workloads), b.s.readyLimit, res.err)
	}
	reconcile = res.at.Sub(t)
	after, err := b.snapshot(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	writes := b.logPhase(fmt.Sprintf("all %d GenAIWorkloads Ready %.2fs after the first create", len(workloads), reconcile.Seconds()),
		before, after, reconcile)
	// The reconcile's CPU profile ends before the steady window's starts.
	if err := <-profile; err != nil {
		return 0, 0, 0, err
	}
	return reconcile, create, writes / reconcile.Minutes(), nil
}

// measureSteady waits for the manager's queues to drain, then counts its writes over the steady
// window. It returns them per minute and the manager's memory at the end.
func (b *bench) measureSteady(ctx context.Context) (writesPerMin float64, mem memory, err error) {
	if err := b.waitQuiet(ctx); err != nil {
		return 0, mem, err
	}
	if err := sleep(ctx, b.s.settle); err != nil {
		return 0, mem, err
	}
	before, err := b.snapshot(ctx)
	if err != nil {
		return 0, mem, err
	}
	b.logf("steady window of %s starts", b.s.window)
	profile := b.cpuProfile(ctx, "steady.cpu.pprof", b.s.window-time.Second)
	if err := sleep(ctx, b.s.window); err != nil {
		return 0, mem, err
	}
	if err := b.manager.Alive(); err != nil {
		return 0, mem, err
	}
	after, err := b.snapshot(ctx)
	if err != nil {
		return 0, mem, err
	}
	if mem, err = readMemory(b.manager.Pid()); err != nil {
		return 0, mem, err
	}
	window := after.at.Sub(before.at)
	writes := b.logPhase(fmt.Sprintf("steady window of %.1fs", window.Seconds()), before, after, window)
	if err := <-profile; err != nil {
		return 0, mem, err
	}
	if err := b.fetchProfile(ctx, "heap", "steady.heap.pprof"); err != nil {
		return 0, mem, err
	}
	return writes / window.Minutes(), mem, nil
}

// snapshot is what the bench reads of kube-apiserver and the manager at one moment.
type snapshot struct {
	at      time.Time
	writes  writeCounts
	manager managerFigures
}

func (b *bench) snapshot(ctx context.Context) (snapshot, error) {
	w, err := b.apiserverWrites(ctx)
	if err != nil {
		return snapshot{}, err
	}
	at := time.Now()
	m, err := b.managerFigures(ctx)
	if err != nil {
		return snapshot{}, err
	}
	return snapshot{at: at, writes: w, manager: m}, nil
}

// logPhase logs the writes between two snapshots by verb and resource, with the manager's own
// view of the same span, and returns the number of writes counted.
func (b *bench) logPhase(title string, before, after snapshot, span time.Duration) float64 {
	d := diffWrites(before.writes, after.writes, notManagers)
	m0, m1 := before.manager, after.manager
	reconciles := subMaps(m0.reconciles, m1.reconciles)
	b.logf("%s: %.0f writes (%.1f/min), by verb and resource:\n%s"+
		"    manager's own requests by method (client-go): %s\n"+
		"    reconciles: %s; errors: %s; mean ms: %s\n    Go heap in use at the end: %.1f MiB",
		title, d.Total, d.Total/span.Minutes(), d.breakdown("    "),
		formatMap(subMaps(m0.requests, m1.requests)),
		formatMap(reconciles), formatMap(subMaps(m0.reconcileErrors, m1.reconcileErrors)),
		formatMap(meanMillis(subMaps(m0.reconcileSeconds, m1.reconcileSeconds), reconciles)), m1.heapInuse/(1<<20))
	return d.Total
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// buildManager builds cmd/manager as it ships.
func (b *bench) buildManager(ctx context.Context, root, pkg, out string) error {
	t := time.Now()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, stderr.String())
	}
	b.logf("built %s in %.1fs", pkg, time.Since(t).Seconds())
	return nil
}

// clients makes the bench's clients: unthrottled on the client side (the API server's priority
// and fairness still applies), so creating objects is limited by the API server only.
func (b *bench) clients() error {
	cfg := rest.CopyConfig(b.env.Config)
	cfg.QPS, cfg.Burst = -1, 0
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: b.env.Scheme})
	if err != nil {
		return err
	}
	k, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	b.client, b.kube = c, k
	return nil
}

// startManager runs the manager binary against the control plane, as devcluster documents it:
// leader election off, webhook served with the control plane's certificates, metrics and probes
// on free loopback ports, the control loops querying the real Prometheus, no AWS.
func (b *bench) startManager(ctx context.Context, binary, promURL string) error {
	kc, err := b.env.AdminKubeconfig()
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(b.o.WorkDir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return err
	}
	metricsAddr, err := localproc.FreeAddr()
	if err != nil {
		return err
	}
	probeAddr, err := localproc.FreeAddr()
	if err != nil {
		return err
	}
	wh := b.env.Webhook()
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--namespace=default",
		"--leader-elect=false",
		"--metrics-bind-address=" + metricsAddr,
		"--metrics-secure=false",
		"--health-probe-bind-address=" + probeAddr,
		"--webhook-cert-management=external",
		"--webhook-bind-host=" + wh.LocalServingHost,
		"--webhook-port=" + strconv.Itoa(wh.LocalServingPort),
		"--webhook-cert-dir=" + wh.LocalServingCertDir,
		"--prometheus-url=" + promURL,
		"--evaluation-interval=" + b.s.interval.String(),
		"--aws-sources=false",
		"--graceful-shutdown-timeout=5s",
	}
	if b.o.ProfileDir != "" {
		pprofAddr, err := localproc.FreeAddr()
		if err != nil {
			return err
		}
		args = append(args, "--pprof-bind-address="+pprofAddr)
		b.pprof = "http://" + pprofAddr + "/debug/pprof/"
	}
	b.manager, err = b.procs.Start("manager", nil, binary, args...)
	if err != nil {
		return err
	}
	b.managerMetrics = "http://" + metricsAddr + "/metrics"
	return localproc.WaitHTTP(ctx, b.manager, "http://"+probeAddr+"/readyz", 60*time.Second)
}

// apiserverWrites reads kube-apiserver's write counters with the administrator's credentials.
func (b *bench) apiserverWrites(ctx context.Context) (writeCounts, error) {
	raw, err := b.kube.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading kube-apiserver's /metrics: %w", err)
	}
	return apiserverWrites(bytes.NewReader(raw))
}

// managerFigures reads the manager's /metrics.
func (b *bench) managerFigures(ctx context.Context) (managerFigures, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.managerMetrics, http.NoBody)
	if err != nil {
		return managerFigures{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return managerFigures{}, fmt.Errorf("reading the manager's /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return managerFigures{}, fmt.Errorf("reading the manager's /metrics: %s", resp.Status)
	}
	return parseManagerMetrics(resp.Body)
}

// waitQuiet waits until the manager's work queues are empty (requeues waiting for their time do
// not count), polling its /metrics.
func (b *bench) waitQuiet(ctx context.Context) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		f, err := b.managerFigures(ctx)
		if err != nil {
			return err
		}
		if f.queueDepth == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the manager's work queues still hold %.0f items after 2m", f.queueDepth)
		}
		if err := b.manager.Alive(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitLoopsReady waits until every ModelEndpoint, TokenQuota and FailoverPolicy has a Ready
// condition for its generation: the control loops have evaluated each once.
func (b *bench) waitLoopsReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var missing []string
		var mes breakwaterv1alpha1.ModelEndpointList
		var tqs breakwaterv1alpha1.TokenQuotaList
		var fps breakwaterv1alpha1.FailoverPolicyList
		for _, l := range []client.ObjectList{&mes, &tqs, &fps} {
			if err := b.client.List(ctx, l); err != nil {
				return err
			}
		}
		check := func(kind string, o client.Object, conds []metav1.Condition) {
			c := apimeta.FindStatusCondition(conds, breakwaterv1alpha1.ConditionReady)
			if c == nil || c.ObservedGeneration != o.GetGeneration() {
				missing = append(missing, kind+" "+client.ObjectKeyFromObject(o).String())
			}
		}
		for i := range mes.Items {
			check("ModelEndpoint", &mes.Items[i], mes.Items[i].Status.Conditions)
		}
		for i := range tqs.Items {
			check("TokenQuota", &tqs.Items[i], tqs.Items[i].Status.Conditions)
		}
		for i := range fps.Items {
			check("FailoverPolicy", &fps.Items[i], fps.Items[i].Status.Conditions)
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d control-loop objects have no Ready condition after %s, e.g. %s", len(missing), limit, missing[0])
		}
		if err := b.manager.Alive(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// createAll creates objects in order of kind: namespaces first, then the rest with a few workers
// at a time (the API server's own limit, not the client's, is then what bounds it).
func createAll(ctx context.Context, c client.Client, objs []client.Object) error {
	var others []client.Object
	for _, o := range objs {
		if o.GetNamespace() == "" {
			if err := c.Create(ctx, o); err != nil {
				return fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
			}
			continue
		}
		others = append(others, o)
	}
	const workers = 16
	work := make(chan client.Object)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for o := range work {
				if err := c.Create(ctx, o); err != nil {
					errs <- fmt.Errorf("creating %T %s: %w", o, client.ObjectKeyFromObject(o), err)
					return
				}
			}
		})
	}
	var err error
feed:
	for _, o := range others {
		select {
		case work <- o:
		case err = <-errs:
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err != nil {
		return err
	}
	select {
	case err = <-errs:
		return err
	default:
		return nil
	}
}

type readyResult struct {
	at    time.Time // when the last one was seen Ready
	ready int
	err   error
}

// waitWorkloadsReady watches every GenAIWorkload until n of them have Ready=True for their
// generation; it closes watching once its first watch is open.
func waitWorkloadsReady(ctx context.Context, c client.WithWatch, n int, watching chan<- struct{}) readyResult {
	ready := map[client.ObjectKey]bool{}
	readyCount := 0
	count := func() int { return readyCount }
	set := func(k client.ObjectKey, r bool) {
		if ready[k] != r {
			if r {
				readyCount++
			} else {
				readyCount--
			}
		}
		if r {
			ready[k] = true
		} else {
			delete(ready, k)
		}
	}
	see := func(w *breakwaterv1alpha1.GenAIWorkload) {
		cond := apimeta.FindStatusCondition(w.Status.Conditions, breakwaterv1alpha1.ConditionReady)
		set(client.ObjectKeyFromObject(w), cond != nil && cond.Status == metav1.ConditionTrue && cond.ObservedGeneration == w.Generation)
	}
	opened := false
	defer func() {
		if !opened {
			close(watching)
		}
	}()
	for {
		var list breakwaterv1alpha1.GenAIWorkloadList
		if err := c.List(ctx, &list); err != nil {
			return readyResult{ready: count(), err: err}
		}
		for i := range list.Items {
			see(&list.Items[i])
		}
		if count() >= n {
			return readyResult{at: time.Now(), ready: count()}
		}
		w, err := c.Watch(ctx, &breakwaterv1alpha1.GenAIWorkloadList{}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
		if err != nil {
			return readyResult{ready: count(), err: err}
		}
		if !opened {
			opened = true
			close(watching)
		}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				break // list again
			}
			wl, ok := ev.Object.(*breakwaterv1alpha1.GenAIWorkload)
			if !ok {
				continue
			}
			if ev.Type == watch.Deleted {
				set(client.ObjectKeyFromObject(wl), false)
				continue
			}
			see(wl)
			if count() >= n {
				w.Stop()
				return readyResult{at: time.Now(), ready: count()}
			}
		}
		w.Stop()
		if err := ctx.Err(); err != nil {
			return readyResult{ready: count(), err: err}
		}
	}
}

// cpuProfile starts a CPU profile of the manager for d, written to file in ProfileDir; the
// channel yields once it is written. Without ProfileDir it yields nil at once.
func (b *bench) cpuProfile(ctx context.Context, file string, d time.Duration) <-chan error {
	done := make(chan error, 1)
	if b.pprof == "" {
		done <- nil
		return done
	}
	go func() {
		done <- b.fetchProfile(ctx, fmt.Sprintf("profile?seconds=%d", int(d.Seconds())), file)
	}()
	return done
}

// fetchProfile writes the manager's /debug/pprof/<what> to file in ProfileDir. Without
// ProfileDir it does nothing.
func (b *bench) fetchProfile(ctx context.Context, what, file string) error {
	if b.pprof == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.pprof+what, http.NoBody)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profiling the manager: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("profiling the manager: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profiling the manager: %s: %s", resp.Status, body)
	}
	path := filepath.Join(b.o.ProfileDir, file)
	if err := os.WriteFile(path, body, 0o644); err != nil {
		return err
	}
	b.logf("wrote %s", path)
	return nil
}

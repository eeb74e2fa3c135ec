package promsource

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"

	"github.com/breakwater-dev/breakwater/internal/metrics"
)

// scrapeInterval is the harness Prometheus' scrape and evaluation interval. One second keeps the
// tests short while a 5s window still holds several samples.
const scrapeInterval = time.Second

// fakeGuard serves a real guard metrics registry (internal/metrics) on /metrics. onScrape runs
// before each scrape is answered, so counters advance by a fixed amount per scrape and their rate is
// that amount per scrape interval, whatever the wall clock does.
type fakeGuard struct {
	srv *httptest.Server
}

func startGuard(t *testing.T, setup, onScrape func(m *metrics.Metrics)) *fakeGuard {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.Register(reg)
	if setup != nil {
		setup(m)
	}
	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		if onScrape != nil {
			onScrape(m)
		}
		metricsHandler.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fakeGuard{srv: srv}
}

// addr is host:port, as a Prometheus target.
func (g *fakeGuard) addr() string { return strings.TrimPrefix(g.srv.URL, "http://") }

// podTarget is a static scrape target with the __meta_kubernetes_* labels the pod role of
// Kubernetes service discovery would give it, so that GuardRelabelConfigs runs on real input.
type podTarget struct {
	addr      string
	namespace string
	pod       string
	injected  string // the breakwater.dev/injected annotation; "" for a pod the webhook left alone
}

func (p podTarget) labels() map[string]string {
	l := map[string]string{
		"__meta_kubernetes_namespace":                              p.namespace,
		"__meta_kubernetes_pod_name":                               p.pod,
		"__meta_kubernetes_pod_container_name":                     "breakwater-guard",
		"__meta_kubernetes_pod_container_port_name":                "guard-admin",
		"__meta_kubernetes_pod_annotation_breakwater_dev_injected": p.injected,
	}
	return l
}

// prometheusServer is a real Prometheus started for one test.
type prometheusServer struct {
	url string
	api v1.API
	log string
}

// prometheusBinary finds the server: $PROMETHEUS (the Makefile sets it from hack/prometheus.sh), then
// PATH (Debian's package installs /usr/bin/prometheus).
func prometheusBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PROMETHEUS"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("PROMETHEUS=%s: %v; run hack/prometheus.sh to install Prometheus", p, err)
		}
		return p
	}
	p, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("no prometheus binary on PATH and PROMETHEUS is not set: run hack/prometheus.sh (or make test), " +
			"which installs Debian's prometheus package, or set PROMETHEUS to a Prometheus 2.x binary")
	}
	return p
}

// writePrometheusConfig writes a config with one job, "guard", scraping targets through
// GuardRelabelConfigs. Label values are written as double-quoted JSON strings, which YAML reads as is.
func writePrometheusConfig(t *testing.T, dir string, targets []podTarget) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n",
		promDuration(scrapeInterval), promDuration(scrapeInterval), promDuration(scrapeInterval))
	b.WriteString("scrape_configs:\n  - job_name: guard\n    static_configs:\n")
	for _, target := range targets {
		fmt.Fprintf(&b, "      - targets: [%s]\n        labels:\n", strconv.Quote(target.addr))
		labels := target.labels()
		names := make([]string, 0, len(labels))
		for n := range labels {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(&b, "          %s: %s\n", n, strconv.Quote(labels[n]))
		}
	}
	b.WriteString("    relabel_configs:\n")
	for _, line := range strings.Split(strings.TrimRight(GuardRelabelConfigs, "\n"), "\n") {
		b.WriteString("      " + line + "\n")
	}
	path := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startPrometheus runs Prometheus on a free loopback port with its data in a temporary folder,
// waits for /-/ready, and stops it (its whole process group) when the test ends.
func startPrometheus(t *testing.T, targets []podTarget) *prometheusServer {
	t.Helper()
	bin := prometheusBinary(t)
	dir := t.TempDir()
	config := writePrometheusConfig(t, dir, targets)
	// The free port is found by binding and closing, so another process may take it before
	// Prometheus binds; then Prometheus exits and another port is tried.
	var lastErr error
	for attempt := range 3 {
		p, err := runPrometheus(t, bin, config, filepath.Join(dir, fmt.Sprintf("data-%d", attempt)), filepath.Join(dir, fmt.Sprintf("prometheus-%d.log", attempt)))
		if err == nil {
			return p
		}
		lastErr = err
	}
	t.Fatalf("starting Prometheus: %v", lastErr)
	return nil
}

func runPrometheus(t *testing.T, bin, config, data, logPath string) (*prometheusServer, error) {
	t.Helper()
	addr := freeAddr(t)
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin,
		"--config.file="+config,
		"--storage.tsdb.path="+data,
		"--web.listen-address="+addr,
		"--log.level=info",
	)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = prometheusSysProcAttr()
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}

	url := "http://" + addr
	ready := time.NewTicker(50 * time.Millisecond)
	defer ready.Stop()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case err := <-exited:
			return nil, fmt.Errorf("prometheus exited before it was ready (%v); log:\n%s", err, tail(logPath))
		case <-deadline:
			stop()
			t.Fatalf("prometheus at %s was not ready after 30s; log:\n%s", url, tail(logPath))
		case <-ready.C:
		}
		resp, err := http.Get(url + "/-/ready")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			break
		}
	}
	t.Cleanup(stop)

	client, err := api.NewClient(api.Config{Address: url})
	if err != nil {
		t.Fatal(err)
	}
	return &prometheusServer{url: url, api: v1.NewAPI(client), log: logPath}, nil
}

// freeAddr is a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// tail is the end of a log file, for failure messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	const keep = 4000
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return string(b)
}

// waitForSamples polls Prometheus until every one of wantTargets kept targets has at least samples
// successful scrapes within lookback. Rates are then taken over windows that the series fully cover,
// which is what the assertions assume. It polls rather than sleeps, and fails with what Prometheus
// does have.
func (p *prometheusServer) waitForSamples(t *testing.T, wantTargets, samples int, lookback time.Duration) {
	t.Helper()
	q := fmt.Sprintf(`sum_over_time(up{job="guard"}[%s]) >= %d`, promDuration(lookback), samples)
	deadline := time.Now().Add(45 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		v, _, _, err := p.api.Query(ctx, q, time.Now())
		cancel()
		if err == nil {
			if vec, ok := v.(model.Vector); ok && len(vec) == wantTargets {
				return
			}
		}
		if time.Now().After(deadline) {
			up, _, _, upErr := p.api.Query(context.Background(), `up`, time.Now())
			t.Fatalf("Prometheus did not get %d scrapes of %d targets within %s: last query error %v; up = %v (%v); log:\n%s",
				samples, wantTargets, lookback, err, up, upErr, tail(p.log))
		}
		time.Sleep(200 * time.Millisecond) // a poll interval, not an assertion
	}
}

// unusedURL is the URL of a loopback port nothing listens on.
func unusedURL(t *testing.T) string {
	t.Helper()
	return "http://" + freeAddr(t)
}

package promsource

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"

	"github.com/breakwater-dev/breakwater/internal/metrics"

	"github.com/breakwater-dev/breakwater/test/localproc"
	"github.com/breakwater-dev/breakwater/test/promtest"
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

// prometheusConfig is a config with one job, "guard", scraping targets through
// GuardRelabelConfigs. Label values are written as double-quoted JSON strings, which YAML reads as is.
func prometheusConfig(targets []podTarget) string {
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
	return b.String()
}

// startPrometheus runs Prometheus (test/promtest) on a free loopback port with its data in a
// temporary folder, waits for /-/ready, and stops it when the test ends.
func startPrometheus(t *testing.T, targets []podTarget) *prometheusServer {
	t.Helper()
	dir := t.TempDir()
	g := &localproc.Group{LogDir: dir}
	t.Cleanup(func() { g.StopAll(15 * time.Second) })
	prom, err := promtest.Start(context.Background(), g, dir, prometheusConfig(targets))
	if err != nil {
		t.Fatal(err)
	}
	client, err := api.NewClient(api.Config{Address: prom.URL})
	if err != nil {
		t.Fatal(err)
	}
	return &prometheusServer{url: prom.URL, api: v1.NewAPI(client), log: prom.Proc.Log}
}

// unusedURL is the URL of a loopback port nothing listens on.
func unusedURL(t *testing.T) string {
	t.Helper()
	addr, err := localproc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
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
				samples, wantTargets, lookback, err, up, upErr, localproc.Tail(p.log, 4000))
		}
		time.Sleep(200 * time.Millisecond) // a poll interval, not an assertion
	}
}

package monitoring

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"

	"github.com/breakwater-dev/breakwater/internal/metrics"
	"github.com/breakwater-dev/breakwater/internal/promsource"

	"github.com/breakwater-dev/breakwater/test/localproc"
	"github.com/breakwater-dev/breakwater/test/promtest"
)

// A real Prometheus scraping one fake guard (a real internal/metrics registry) through the guards'
// relabeling, as internal/promsource's tests do: the dashboard's queries must parse there, and the
// guard panels must find the series and labels a real scrape produces.

// guardTarget is where the fake guard runs, in the scrape's terms.
const (
	guardNamespace = "shop"
	guardWorkload  = "assistant"
	guardPod       = "assistant-7d9f-abcde"
)

// startGuard serves a guard registry with every metric set, and advances the counters at each scrape.
func startGuard(t *testing.T) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.Register(reg)
	touch := func() {
		for _, typ := range []string{"input", "output"} {
			m.TokenUsage.WithLabelValues("chat", "aws.bedrock", "model", "claude", "use1", typ).Observe(700)
			m.TokensTotal.WithLabelValues("claude", "use1", typ).Add(700)
		}
		m.OperationDuration.WithLabelValues("chat", "aws.bedrock", "model", "claude", "use1", "").Observe(1.2)
		m.TimeToFirstToken.WithLabelValues("chat", "aws.bedrock", "model", "claude", "use1").Observe(0.3)
		for _, outcome := range []string{"success", "upstream_error", "throttled", "timeout"} {
			m.RequestsTotal.WithLabelValues("claude", "use1", outcome).Inc()
		}
		m.RequestsTotal.WithLabelValues("docs", "docs", "success").Inc()
		m.RequestsTotal.WithLabelValues("docs", "docs", "degraded").Inc()
		m.RetriesTotal.WithLabelValues("claude", "use1").Inc()
		m.FallbacksTotal.WithLabelValues("claude", "use1", "usw2").Inc()
		m.RejectionsTotal.WithLabelValues("claude", "quota_shed").Inc()
		m.RejectionsTotal.WithLabelValues("claude", "circuit_open").Inc()
		m.CostTotal.WithLabelValues("claude", "use1").Add(0.01)
		m.RetrievalDegraded.WithLabelValues("docs", "empty").Inc()
		m.DocumentsCapped.WithLabelValues("docs").Inc()
		m.ConfigReloads.WithLabelValues("success").Inc()
	}
	m.CircuitState.WithLabelValues("claude", "use1").Set(metrics.CircuitOpen)
	m.ConfigLastReload.SetToCurrentTime()
	m.QuotaAvailable.Set(1000)
	m.InFlight.Set(3)
	touch()
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		touch()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// startPrometheus runs Prometheus with one job scraping guardAddr through
// promsource.GuardRelabelConfigs, with the __meta_kubernetes_* labels the pod role would give it.
func startPrometheus(t *testing.T, guardAddr string) v1.API {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n")
	fmt.Fprintf(&b, "scrape_configs:\n  - job_name: breakwater-guard\n    static_configs:\n      - targets: [%q]\n        labels:\n", guardAddr)
	for k, v := range map[string]string{
		"__meta_kubernetes_namespace":                              guardNamespace,
		"__meta_kubernetes_pod_name":                               guardPod,
		"__meta_kubernetes_pod_container_name":                     "breakwater-guard",
		"__meta_kubernetes_pod_container_port_name":                "guard-admin",
		"__meta_kubernetes_pod_annotation_breakwater_dev_injected": guardWorkload,
	} {
		fmt.Fprintf(&b, "          %s: %q\n", k, v)
	}
	b.WriteString("    relabel_configs:\n")
	for _, line := range strings.Split(strings.TrimRight(promsource.GuardRelabelConfigs, "\n"), "\n") {
		b.WriteString("      " + line + "\n")
	}
	g := &localproc.Group{LogDir: filepath.Join(dir, "logs")}
	t.Cleanup(func() { g.StopAll(15 * time.Second) })
	prom, err := promtest.Start(context.Background(), g, dir, b.String())
	if err != nil {
		t.Fatal(err)
	}
	client, err := api.NewClient(api.Config{Address: prom.URL})
	if err != nil {
		t.Fatal(err)
	}
	return v1.NewAPI(client)
}

// waitForScrapes polls until the guard has been scraped at least n times.
func waitForScrapes(t *testing.T, a v1.API, n int) {
	t.Helper()
	q := fmt.Sprintf(`count_over_time(up{job="breakwater-guard"}[1m]) >= %d`, n)
	deadline := time.Now().Add(45 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		v, _, _, err := a.Query(ctx, q, time.Now())
		cancel()
		if vec, ok := v.(model.Vector); err == nil && ok && len(vec) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus did not scrape the guard %d times within 45s (last error %v)", n, err)
		}
		time.Sleep(200 * time.Millisecond) // a poll interval
	}
}

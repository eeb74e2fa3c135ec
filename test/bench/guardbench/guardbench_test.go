package guardbench

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/test/bench/report"
)

const benchOutput = `goos: linux
goarch: amd64
pkg: github.com/breakwater-dev/breakwater/test/bench/guardbench/micro
cpu: Intel(R) Xeon(R) Processor
BenchmarkInspect-2              	    5606	     23533 ns/op	 170.01 MB/s	    5024 B/op	       8 allocs/op
BenchmarkJSONValid              	    9536	     59572 ns/op	  67.16 MB/s	       0 B/op	       0 allocs/op
BenchmarkBreakerAdmit-2         	  476658	       213.8 ns/op	      33 B/op	       2 allocs/op
BenchmarkBreakerReject-2        	 1000000	       193.3 ns/op	       0 B/op	       0 allocs/op
BenchmarkMutex-2                	 5948356	        34.67 ns/op	       0 B/op	       0 allocs/op
BenchmarkQuotaAdmit-2           	  936097	       367.9 ns/op	       0 B/op	       0 allocs/op
BenchmarkMetricsRecord-2        	  115004	      2789 ns/op	       0 B/op	       0 allocs/op
BenchmarkMetricsPreresolved-2   	 1000000	       309.2 ns/op	       0 B/op	       0 allocs/op
BenchmarkMetricsPreresolved-2 said something
PASS
ok  	github.com/breakwater-dev/breakwater/test/bench/guardbench/micro	2.265s
`

func TestParseBench(t *testing.T) {
	res, err := parseBench(benchOutput)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 8 {
		t.Errorf("%d results, want 8: %v", len(res), res)
	}
	want := map[string]benchResult{
		"Inspect":       {N: 5606, NsPerOp: 23533, BytesPerOp: 5024, AllocsPerOp: 8, MBPerS: 170.01},
		"JSONValid":     {N: 9536, NsPerOp: 59572, MBPerS: 67.16},
		"BreakerAdmit":  {N: 476658, NsPerOp: 213.8, BytesPerOp: 33, AllocsPerOp: 2},
		"MetricsRecord": {N: 115004, NsPerOp: 2789},
	}
	for name, w := range want {
		if diff := cmp.Diff(w, res[name]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	if _, err := parseBench("BenchmarkX-2 10 abc ns/op"); err == nil {
		t.Error("no error for a malformed value")
	}
}

func TestMicroFigures(t *testing.T) {
	res, err := parseBench(benchOutput)
	if err != nil {
		t.Fatal(err)
	}
	figs, err := microFigures(res, 4)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range figs {
		names = append(names, f.Name)
	}
	if diff := cmp.Diff(microFigureNames(), names); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(report.New("guard_inspect_ns_per_kb", 23533.0/4, "ns", "json_valid_ns_per_kb", 59572.0/4), figs[0]); diff != "" {
		t.Errorf("inspection per KB (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(report.New("guard_breaker_admit_allocs_per_op", 2, "allocs", "mutex_lock_unlock_allocs_per_op", 0), figs[5]); diff != "" {
		t.Errorf("breaker allocations (-want +got):\n%s", diff)
	}
	delete(res, "Mutex")
	if _, err := microFigures(res, 4); err == nil {
		t.Error("no error for a missing baseline benchmark")
	}
}

func TestFigureNames(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range FigureNames {
		if seen[n] {
			t.Errorf("%s twice", n)
		}
		seen[n] = true
	}
	// The names issue #7 asks for.
	for _, n := range []string{"guard_added_p50_us", "guard_added_p99_us", "guard_max_rps_1cpu", "guard_cpu_per_1k_rps",
		"guard_rss_idle_mib", "guard_rss_1000_streams_mib", "guard_ttft_added_p50_us", "guard_ttft_added_p99_us",
		"guard_retry_amplification"} {
		if !seen[n] {
			t.Errorf("%s missing from FigureNames", n)
		}
	}
	// Every macro figure is assembled from measured values; with all of them present, figures()
	// returns exactly the macro part of FigureNames.
	r := &runner{vals: map[string]float64{}}
	for _, s := range []string{"guard", "goproxy", "nginx", "portkey", "direct", "retry_budget"} {
		for _, suffix := range []string{"_added_p50_us", "_added_p99_us", "_p50_us", "_p99_us", "_max_rps_1cpu", "_cpu_per_1k_rps",
			"_rss_idle_mib", "_rss_1000_streams_mib", "_ttft_added_p50_us", "_ttft_added_p99_us", "_ttft_bedrock_added_p50_us",
			"_ttft_bedrock_added_p99_us", "_retry_amplification", "_retry_amplification_budget_only", "_bound",
			"_fallback_failed_share", "_fallback_attempts_per_request"} {
			r.vals[s+suffix] = 1
		}
	}
	figs, err := r.figures()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range figs {
		names = append(names, f.Name)
	}
	if diff := cmp.Diff(FigureNames[:len(figs)], names); diff != "" {
		t.Errorf("macro figures (-want +got):\n%s", diff)
	}
	if len(figs)+len(microFigureNames()) != len(FigureNames) {
		t.Errorf("%d macro + %d micro figures, FigureNames has %d", len(figs), len(microFigureNames()), len(FigureNames))
	}
	delete(r.vals, "nginx_max_rps_1cpu")
	if _, err := r.figures(); err == nil || !strings.Contains(err.Error(), "nginx_max_rps_1cpu") {
		t.Errorf("a missing value: %v", err)
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{-2, 10, 1}, 1}}
	for _, tt := range tests {
		in := slices.Clone(tt.in)
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %g, want %g", tt.in, got, tt.want)
		}
		if !slices.Equal(in, tt.in) {
			t.Errorf("median changed its input %v", tt.in)
		}
	}
}

func TestParseProc(t *testing.T) {
	stat := "4242 (guard (x) y) S 1 4242 4242 0 -1 4194560 1253 0 0 0 250 75 0 0 20 0 9 0 123 1000 2000\n"
	if got, err := parseStatCPU(stat); err != nil || got != 3.25 {
		t.Errorf("parseStatCPU = %g, %v; want 3.25", got, err)
	}
	if _, err := parseStatCPU("4242 guard S 1"); err == nil {
		t.Error("no error for a line without the command in parentheses")
	}
	status := "Name:\tguard\nVmPeak:\t  800000 kB\nVmRSS:\t   30720 kB\nRssAnon:\t 20000 kB\n"
	if got, err := parseVmRSS(status); err != nil || got != 30 {
		t.Errorf("parseVmRSS = %g, %v; want 30", got, err)
	}
	if _, err := parseVmRSS("Name:\tguard\n"); err == nil {
		t.Error("no error without VmRSS")
	}
}

func TestTargetNotes(t *testing.T) {
	figs := []report.Figure{
		report.New("guard_added_p50_us", 120, "us", "goproxy_added_p50_us", 100),
		report.New("guard_added_p50_us_vs_nginx", 120, "us", "nginx_added_p50_us", -5),
		report.New("guard_max_rps_1cpu", 700, "req/s", "goproxy_max_rps_1cpu", 1000),
		report.New("guard_cpu_per_1k_rps", 0.1, "cores", "goproxy_cpu_per_1k_rps", 0.2),
	}
	want := []string{
		"target added p50 <= 1.2x the stock Go proxy's: met (1.2)",
		"target added p50 <= 1.5x nginx's: not judged, baseline nginx_added_p50_us is -5",
		"target max req/s >= 0.8x the stock Go proxy's: MISSED (0.7, by 12.5% of 0.8)",
		"target <= 0.15 CPU per 1000 req/s: met (0.1)",
	}
	if diff := cmp.Diff(want, targetNotes(figs)); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
}

func TestGuardConfigIsValid(t *testing.T) {
	for _, breakerOn := range []bool{true, false} {
		data, err := guardConfig("http://127.0.0.1:1", "/tmp/key", breakerOn)
		if err != nil {
			t.Fatal(err)
		}
		c, err := guardconfig.Parse(data)
		if err != nil {
			t.Fatalf("breakerOn %v: the guard would refuse the config: %v", breakerOn, err)
		}
		for _, ep := range c.Endpoints {
			if len(ep.Targets) != 2 || ep.Limits.MaxPromptTokens == 0 || *ep.Retry.BudgetRatio != budgetRatio {
				t.Errorf("endpoint %s: a protection is off: %+v", ep.Name, ep)
			}
			if (ep.Breaker.ConsecutiveFailures > 0) != breakerOn {
				t.Errorf("endpoint %s: breaker %+v with breakerOn %v", ep.Name, ep.Breaker, breakerOn)
			}
		}
		if c.Quota.TokensPerMinute == 0 || c.Quota.OutputTokenClamp == 0 {
			t.Errorf("quota off: %+v", c.Quota)
		}
	}
}

func TestNginxConfig(t *testing.T) {
	conf := nginxConfig("/w/nginx", "127.0.0.1:8080", "127.0.0.1:9000")
	for _, want := range []string{"daemon off;", "worker_processes 1;", "proxy_buffering off;", "proxy_http_version 1.1;",
		"keepalive 64;", "server 127.0.0.1:9000;", "listen 127.0.0.1:8080;", "pid /w/nginx/nginx.pid;", `proxy_set_header Connection "";`} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx config lacks %q", want)
		}
	}
	if strings.Contains(conf, "DIR") || strings.Contains(conf, "UPSTREAM") || strings.Contains(conf, "LISTEN") {
		t.Error("a placeholder was left in the nginx config")
	}
}

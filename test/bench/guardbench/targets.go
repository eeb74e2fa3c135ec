package guardbench

import (
	"fmt"
	"math"

	"github.com/breakwater-dev/breakwater/test/bench/report"
)

// target is one of the issues' targets for the guard (#7, #15).
type target struct {
	figure string
	// limit: on the ratio when onRatio, else on the value; atMost says which side is good.
	limit   float64
	onRatio bool
	atMost  bool
	text    string
}

var targets = []target{
	{"guard_added_p50_us", 1.2, true, true, "added p50 <= 1.2x the stock Go proxy's"},
	{"guard_added_p50_us_vs_nginx", 1.5, true, true, "added p50 <= 1.5x nginx's"},
	{"guard_max_rps_1cpu", 0.8, true, false, "max req/s >= 0.8x the stock Go proxy's"},
	{"guard_cpu_per_1k_rps", 0.15, false, true, "<= 0.15 CPU per 1000 req/s"},
	{"guard_rss_idle_mib", 30, false, true, "idle RSS <= 30 MiB"},
	{"guard_rss_1000_streams_mib", 128, false, true, "RSS <= 128 MiB with 1000 streams"},
	{"guard_ttft_added_p50_us", 500, false, true, "SSE time to first event added p50 <= 0.5 ms"},
	{"guard_ttft_bedrock_added_p50_us", 500, false, true, "event-stream time to first event added p50 <= 0.5 ms"},
	{"guard_retry_amplification", 1.2, false, true, "retry amplification <= 1.2"},
	{"guard_retry_amplification_budget_only", 1.2, false, true, "retry amplification <= 1.2 (breakers held closed)"},
	// Issue #15: ahead of Portkey's gateway on every latency, CPU and memory figure.
	{"guard_added_p50_us_vs_portkey", 1, true, true, "added p50 below Portkey's"},
	{"guard_added_p99_us_vs_portkey", 1, true, true, "added p99 below Portkey's"},
	{"guard_max_rps_1cpu_vs_portkey", 1, true, false, "max req/s per CPU above Portkey's"},
	{"guard_cpu_per_1k_rps_vs_portkey", 1, true, true, "CPU per 1000 req/s below Portkey's"},
	{"guard_rss_idle_mib_vs_portkey", 1, true, true, "idle RSS below Portkey's"},
	{"guard_rss_1000_streams_mib_vs_portkey", 1, true, true, "RSS with 1000 streams below Portkey's"},
	{"guard_ttft_added_p50_us_vs_portkey", 1, true, true, "SSE time to first event added p50 below Portkey's"},
	{"guard_ttft_added_p99_us_vs_portkey", 1, true, true, "SSE time to first event added p99 below Portkey's"},
	{"guard_fallback_failed_share", 1, true, true, "failed app requests in the fallback fault run at most Portkey's"},
}

// targetNotes says for each target whether the figures meet it, and by how much one is missed.
// An added-latency ratio against a baseline of 0 or less cannot be judged and says so.
func targetNotes(figs []report.Figure) []string {
	byName := map[string]report.Figure{}
	for _, f := range figs {
		byName[f.Name] = f
	}
	var notes []string
	for _, t := range targets {
		f, ok := byName[t.figure]
		if !ok {
			continue
		}
		got := f.Value
		if t.onRatio {
			if f.BaselineValue <= 0 {
				notes = append(notes, fmt.Sprintf("target %s: not judged, baseline %s is %g", t.text, f.Baseline, f.BaselineValue))
				continue
			}
			got = f.Value / f.BaselineValue
		}
		met := got <= t.limit
		if !t.atMost {
			met = got >= t.limit
		}
		if met {
			notes = append(notes, fmt.Sprintf("target %s: met (%.4g)", t.text, got))
		} else {
			notes = append(notes, fmt.Sprintf("target %s: MISSED (%.4g, by %.1f%% of %g)", t.text, got, 100*math.Abs(got-t.limit)/t.limit, t.limit))
		}
	}
	return notes
}

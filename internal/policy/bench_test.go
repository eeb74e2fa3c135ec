package policy

import (
	"fmt"
	"testing"
	"time"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

func BenchmarkQuotaState(b *testing.B) {
	cost := NanoUSD(230_500_000_000)
	in := QuotaInput{
		Now:    noon,
		Limits: QuotaLimits{TokensPerMinute: 400_000, TokensPerDay: 100_000_000, CostPerDay: 250 * nanosPerDollar},
		Usage: QuotaUsage{TokensPerMinute: new(int64(348_000)), TokensToday: new(int64(40_000_000)),
			CostToday: &cost, CostPerMinute: new(NanoUSD(100_000_000))},
		Previous: breakwaterv1alpha1.QuotaShedding, PreviousSince: noon.Add(-time.Hour), MaxOutputTokens: 4096,
	}
	for b.Loop() {
		QuotaState(in)
	}
}

func BenchmarkFailover(b *testing.B) {
	in := threeTargets()
	in.Targets[0].Metrics = &TargetMetrics{Requests: 400, Throttles: 40}
	for _, n := range []int{3, 16} {
		b.Run(fmt.Sprint(n, "targets"), func(b *testing.B) {
			in := in
			for len(in.Targets) < n {
				in.Targets = append(in.Targets, TargetInput{Name: fmt.Sprint("t", len(in.Targets)), Validated: true, Metrics: healthy(0)})
			}
			for b.Loop() {
				Failover(in)
			}
		})
	}
}

func BenchmarkScale(b *testing.B) {
	var ws []WorkloadInput
	for i := range 1024 {
		ws = append(ws, WorkloadInput{
			Name:        fmt.Sprintf("w%04d", i),
			Criticality: []breakwaterv1alpha1.Criticality{critical, standard, sheddable}[i%3],
			Replicas:    int32(1 + i%7),
		})
	}
	in := ScaleInput{Now: noon, State: breakwaterv1alpha1.QuotaExhausted, Workloads: ws}
	for b.Loop() {
		Scale(in)
	}
}

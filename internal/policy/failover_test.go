package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

func healthy(requests int64) *TargetMetrics { return &TargetMetrics{Requests: requests} }

// threeTargets: a is home (100), b and c are standbys; all validated, all healthy for an hour,
// last shift an hour ago.
func threeTargets() FailoverInput {
	since := noon.Add(-time.Hour)
	return FailoverInput{
		Now:       noon,
		Triggers:  Triggers{ThrottleRatePercent: 5, ErrorRatePercent: 10, P99Latency: 8 * time.Second, QuotaPercent: 90, MinRequests: 20},
		LastShift: noon.Add(-time.Hour),
		Targets: []TargetInput{
			{Name: "a", Weight: 100, HomeWeight: 100, Validated: true, Metrics: healthy(400), HealthySince: since},
			{Name: "b", Weight: 0, HomeWeight: 0, Validated: true, Metrics: healthy(0), HealthySince: since},
			{Name: "c", Weight: 0, HomeWeight: 0, Validated: true, Metrics: healthy(0), HealthySince: since},
		},
	}
}

type failoverOutcome struct {
	Weights []int32
	Reason  string
	Changed bool
	Apply   bool
	Active  string
}

func foOutcome(p FailoverPlan) failoverOutcome {
	o := failoverOutcome{Reason: p.Reason, Changed: p.Changed, Apply: p.Apply, Active: p.ActiveTarget}
	for _, w := range p.Weights {
		o.Weights = append(o.Weights, w.Weight)
	}
	return o
}

func TestFailover(t *testing.T) {
	edit := func(f func(in *FailoverInput)) FailoverInput {
		in := threeTargets()
		f(&in)
		return in
	}
	throttleA := func(in *FailoverInput) { in.Targets[0].Metrics = &TargetMetrics{Requests: 400, Throttles: 40} }
	weights := func(in *FailoverInput, w ...int32) {
		for i := range w {
			in.Targets[i].Weight = w[i]
		}
	}
	tests := []struct {
		name string
		in   FailoverInput
		want failoverOutcome
	}{
		{"steady", threeTargets(), failoverOutcome{[]int32{100, 0, 0}, breakwaterv1alpha1.ReasonSteady, false, false, "a"}},
		{"throttled: one step to the next preferred", edit(throttleA),
			failoverOutcome{[]int32{50, 50, 0}, breakwaterv1alpha1.ReasonThrottleRateHigh, true, true, "a"}},
		{"second step moves the rest", edit(func(in *FailoverInput) { throttleA(in); weights(in, 50, 50, 0) }),
			failoverOutcome{[]int32{0, 100, 0}, breakwaterv1alpha1.ReasonThrottleRateHigh, true, true, "b"}},
		{"step 100 moves everything", edit(func(in *FailoverInput) { throttleA(in); in.StepPercent = 100 }),
			failoverOutcome{[]int32{0, 100, 0}, breakwaterv1alpha1.ReasonThrottleRateHigh, true, true, "b"}},
		{"below minRequests nothing fires", edit(func(in *FailoverInput) {
			in.Targets[0].Metrics = &TargetMetrics{Requests: 19, Throttles: 19, Errors: 19, P99: time.Minute}
		}), failoverOutcome{[]int32{100, 0, 0}, breakwaterv1alpha1.ReasonSteady, false, false, "a"}},
		{"error rate", edit(func(in *FailoverInput) { in.Targets[0].Metrics = &TargetMetrics{Requests: 100, Errors: 10} }),
			failoverOutcome{[]int32{50, 50, 0}, breakwaterv1alpha1.ReasonErrorRateHigh, true, true, "a"}},
		{"latency", edit(func(in *FailoverInput) { in.Targets[0].Metrics = &TargetMetrics{Requests: 100, P99: 9 * time.Second} }),
			failoverOutcome{[]int32{50, 50, 0}, breakwaterv1alpha1.ReasonLatencyHigh, true, true, "a"}},
		{"latency at the trigger does not fire", edit(func(in *FailoverInput) { in.Targets[0].Metrics = &TargetMetrics{Requests: 100, P99: 8 * time.Second} }),
			failoverOutcome{[]int32{100, 0, 0}, breakwaterv1alpha1.ReasonSteady, false, false, "a"}},
		{"quota needs no minimum of requests", edit(func(in *FailoverInput) {
			in.Targets[0].Metrics = &TargetMetrics{Requests: 1, QuotaTokensPerMinute: 95, QuotaLimit: 100}
		}), failoverOutcome{[]int32{50, 50, 0}, breakwaterv1alpha1.ReasonQuotaHigh, true, true, "a"}},
		{"quota wins over throttling", edit(func(in *FailoverInput) {
			in.Targets[0].Metrics = &TargetMetrics{Requests: 100, Throttles: 50, QuotaTokensPerMinute: 95, QuotaLimit: 100}
		}), failoverOutcome{[]int32{50, 50, 0}, breakwaterv1alpha1.ReasonQuotaHigh, true, true, "a"}},
		{"cooldown", edit(func(in *FailoverInput) { throttleA(in); in.LastShift = noon.Add(-59 * time.Second) }),
			failoverOutcome{[]int32{100, 0, 0}, breakwaterv1alpha1.ReasonCooldown, false, false, "a"}},
		{"cooldown over exactly", edit(func(in *FailoverInput) { throttleA(in); in.LastShift = noon.Add(-time.Minute) }),
			failoverOutcome{[]int32{50, 50, 0}, breakwaterv1alpha1.ReasonThrottleRateHigh, true, true, "a"}},
		{"unvalidated is skipped", edit(func(in *FailoverInput) { throttleA(in); in.Targets[1].Validated = false }),
			failoverOutcome{[]int32{50, 0, 50}, breakwaterv1alpha1.ReasonThrottleRateHigh, true, true, "a"}},
		{"no validated destination", edit(func(in *FailoverInput) {
			throttleA(in)
			in.Targets[1].Validated, in.Targets[2].Validated = false, false
		}), failoverOutcome{[]int32{100, 0, 0}, breakwaterv1alpha1.ReasonNoHealthyTarget, false, false, "a"}},
		{"unvalidated allowed", edit(func(in *FailoverInput) {
			throttleA(in)
			in.Targets[1].Validated, in.AllowUnvalidated = false, true
		}), failoverOutcome{[]int32{50, 50, 0}, breakwaterv1alpha1.ReasonThrottleRateHigh, true, true, "a"}},
		{"headroom splits the step", edit(func(in *FailoverInput) { throttleA(in); in.Targets[1].HeadroomPercent = new(int32(30)) }),
			failoverOutcome{[]int32{50, 30, 20}, breakwaterv1alpha1.ReasonThrottleRateHigh, true, true, "a"}},
		{"no headroom anywhere", edit(func(in *FailoverInput) {
			throttleA(in)
			in.Targets[1].HeadroomPercent, in.Targets[2].HeadroomPercent = new(int32(0)), new(int32(0))
		}), failoverOutcome{[]int32{100, 0, 0}, breakwaterv1alpha1.ReasonNoHealthyTarget, false, false, "a"}},
		{"triggered destination is skipped", edit(func(in *FailoverInput) {
			throttleA(in)
			in.Targets[1].Metrics = &TargetMetrics{Requests: 100, Errors: 50}
		}), failoverOutcome{[]int32{50, 0, 50}, breakwaterv1alpha1.ReasonThrottleRateHigh, true, true, "a"}},
		{"failback after the stable period", edit(func(in *FailoverInput) {
			weights(in, 0, 100, 0)
			in.Targets[0].HealthySince = noon.Add(-5 * time.Minute)
		}), failoverOutcome{[]int32{25, 75, 0}, breakwaterv1alpha1.ReasonFailback, true, true, "b"}},
		{"failback waits for the stable period", edit(func(in *FailoverInput) {
			weights(in, 0, 100, 0)
			in.Targets[0].HealthySince = noon.Add(-4 * time.Minute)
		}), failoverOutcome{[]int32{0, 100, 0}, breakwaterv1alpha1.ReasonFailbackPending, false, false, "b"}},
		{"failback starts the stable period of a newly healthy target", edit(func(in *FailoverInput) {
			weights(in, 0, 100, 0)
			in.Targets[0].HealthySince = time.Time{}
		}), failoverOutcome{[]int32{0, 100, 0}, breakwaterv1alpha1.ReasonFailbackPending, false, false, "b"}},
		{"failback respects the cooldown", edit(func(in *FailoverInput) {
			weights(in, 25, 75, 0)
			in.LastShift = noon.Add(-30 * time.Second)
		}), failoverOutcome{[]int32{25, 75, 0}, breakwaterv1alpha1.ReasonCooldown, false, false, "b"}},
		{"failback takes from the least preferred first", edit(func(in *FailoverInput) { weights(in, 0, 50, 50) }),
			failoverOutcome{[]int32{25, 50, 25}, breakwaterv1alpha1.ReasonFailback, true, true, "b"}},
		{"failback last step stops at home", edit(func(in *FailoverInput) { weights(in, 90, 10, 0) }),
			failoverOutcome{[]int32{100, 0, 0}, breakwaterv1alpha1.ReasonFailback, true, true, "a"}},
		{"failback disabled", edit(func(in *FailoverInput) { weights(in, 0, 100, 0); in.FailbackDisabled = true }),
			failoverOutcome{[]int32{0, 100, 0}, breakwaterv1alpha1.ReasonSteady, false, false, "b"}},
		{"failback to an unvalidated home waits", edit(func(in *FailoverInput) { weights(in, 0, 100, 0); in.Targets[0].Validated = false }),
			failoverOutcome{[]int32{0, 100, 0}, breakwaterv1alpha1.ReasonFailbackPending, false, false, "b"}},
		{"failback skips a waiting target for a ready one", edit(func(in *FailoverInput) {
			for i := range in.Targets {
				in.Targets[i].HomeWeight = 50
			}
			in.Targets[2].HomeWeight = 0
			weights(in, 0, 0, 100)
			in.Targets[0].HealthySince = noon // a just recovered; b has been healthy for an hour
		}), failoverOutcome{[]int32{0, 25, 75}, breakwaterv1alpha1.ReasonFailback, true, true, "c"}},
		{"missing metrics hold", edit(func(in *FailoverInput) { throttleA(in); in.Targets[2].Metrics = nil }),
			failoverOutcome{[]int32{100, 0, 0}, breakwaterv1alpha1.ReasonMetricsUnavailable, false, false, "a"}},
		{"shadow", edit(func(in *FailoverInput) { throttleA(in); in.Shadow = true }),
			failoverOutcome{[]int32{50, 50, 0}, breakwaterv1alpha1.ReasonThrottleRateHigh, true, false, "a"}},
		{"current weights normalised", edit(func(in *FailoverInput) {
			weights(in, 1, 1, 1)
			for i := range in.Targets {
				in.Targets[i].HomeWeight = 1
			}
		}), failoverOutcome{[]int32{34, 33, 33}, breakwaterv1alpha1.ReasonSteady, false, false, "a"}},
		{"no targets", FailoverInput{Now: noon}, failoverOutcome{nil, breakwaterv1alpha1.ReasonSteady, false, false, ""}},
		{"no current weights start at home", edit(func(in *FailoverInput) { weights(in, 0, 0, 0) }),
			failoverOutcome{[]int32{100, 0, 0}, breakwaterv1alpha1.ReasonSteady, false, false, "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Failover(tt.in)
			if diff := cmp.Diff(tt.want, foOutcome(got)); diff != "" {
				t.Errorf("Failover (-want +got):\n%s\nmessage: %s", diff, got.Message)
			}
			if got.Message == "" {
				t.Error("empty message")
			}
			checkWeights(t, got)
		})
	}
}

func TestFailoverMessage(t *testing.T) {
	in := threeTargets()
	in.Targets[0].Metrics = &TargetMetrics{Requests: 400, Throttles: 50}
	in.Targets[1].HeadroomPercent = new(int32(30))
	got := Failover(in)
	want := "Moved 30 points from a to b, 20 points from a to c: a: throttle rate 12.5% of 400 upstream calls over 2m0s (trigger 5%). Weights now a 50, b 30, c 20."
	if got.Message != want {
		t.Errorf("message:\n got %s\nwant %s", got.Message, want)
	}
	wantMoves := []Move{{From: "a", To: "b", Points: 30}, {From: "a", To: "c", Points: 20}}
	if diff := cmp.Diff(wantMoves, got.Moves); diff != "" {
		t.Errorf("moves (-want +got):\n%s", diff)
	}
	if !got.LastShift.Equal(noon) || !got.FailedOver {
		t.Errorf("LastShift = %s, FailedOver = %v; want %s, true", got.LastShift, got.FailedOver, noon)
	}
}

func TestFailoverHealthySince(t *testing.T) {
	in := threeTargets()
	in.Targets[0].Metrics = &TargetMetrics{Requests: 400, Throttles: 50}
	in.Targets[1].HealthySince = time.Time{}
	got := Failover(in)
	want := []time.Time{{}, noon, noon.Add(-time.Hour)}
	for i, h := range got.Targets {
		if !h.HealthySince.Equal(want[i]) {
			t.Errorf("%s: HealthySince = %s, want %s", h.Target, h.HealthySince, want[i])
		}
	}
	if got.Targets[0].Healthy || got.Targets[0].Reason != breakwaterv1alpha1.ReasonThrottleRateHigh {
		t.Errorf("a: %+v, want unhealthy with ThrottleRateHigh", got.Targets[0])
	}
}

// checkWeights asserts the weight invariants: integers in 0..100 summing to exactly 100.
func checkWeights(t testing.TB, p FailoverPlan) {
	t.Helper()
	var sum int32
	for _, w := range p.Weights {
		if w.Weight < 0 || w.Weight > 100 {
			t.Fatalf("weight of %s is %d, want 0..100", w.Target, w.Weight)
		}
		sum += w.Weight
	}
	if len(p.Weights) > 0 && sum != 100 {
		t.Fatalf("weights %v sum to %d, want 100", p.Weights, sum)
	}
	if strings.Contains(p.Message, "%!") {
		t.Fatalf("bad format in message %q", p.Message)
	}
}

func TestQuotaHeadroom(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		limit, other, endpointTPM int64
		quotaPercent              int32
		want                      *int32
	}{
		{"unknown limit", 0, 0, 1000, 90, nil},
		{"no traffic to divide", 1000, 0, 0, 90, nil},
		// 5 points below the 90% trigger: 34000 of 96000 is 35.4%.
		{"below the trigger", 40000, 0, 96000, 90, new(int32(35))},
		{"without the trigger: 5 points below the quota", 40000, 0, 96000, 0, new(int32(39))},
		{"others use part of it", 40000, 12000, 96000, 90, new(int32(22))},                  // 22000 of 96000 is 22.9%
		{"exactly at the bound is one point less", 40000, 10000, 96000, 90, new(int32(24))}, // 24000 is exactly 25%
		{"others use all of it", 40000, 40000, 96000, 90, new(int32(0))},
		{"more than the whole endpoint fits", 1_000_000, 0, 96000, 90, new(int32(100))},
		{"exact share is one point less", 1000, 0, 1000, 55, new(int32(49))},
		{"a low trigger keeps half of it", 1000, 0, 1000, 4, new(int32(1))},
	} {
		got := QuotaHeadroom(tc.limit, tc.other, tc.endpointTPM, tc.quotaPercent)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
		// At the headroom the target stays below its threshold.
		if got != nil && *got > 0 && tc.quotaPercent > 0 {
			usage := tc.other + int64(*got)*tc.endpointTPM/100
			if permille(usage, tc.limit) >= int64(tc.quotaPercent)*10 {
				t.Errorf("%s: at %d%% the target is at %d‰ of its quota, the trigger would fire", tc.name, *got, permille(usage, tc.limit))
			}
		}
	}
}

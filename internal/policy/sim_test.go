package policy

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

// The simulations replay whole incidents with a fake clock and seeded randomness, feeding every
// plan back as the next input the way a reconciler would, and check the invariants at every step.
// Run with -v to see the Events of each incident.

var seeds = []uint64{1, 2, 3, 7, 42, 1234, 2026, 99991}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed*0x9e3779b97f4a7c15)) }

// simTarget is a target as the cluster and the metric sources see it.
type simTarget struct {
	name         string
	home         int32
	validated    bool
	headroom     *int32
	weight       int32
	healthySince time.Time
}

// TestSimulateRegionThrottles: the home region throttles, keeps throttling (with flaky metrics),
// then recovers. Traffic must shift away in steps and come back in stages.
func TestSimulateRegionThrottles(t *testing.T) {
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { simulateFailover(t, seed) })
	}
}

func simulateFailover(t *testing.T, seed uint64) {
	r := newRand(seed)
	in := FailoverInput{
		Triggers:            Triggers{ThrottleRatePercent: 5, ErrorRatePercent: 20, MinRequests: 20},
		StepPercent:         []int32{10, 25, 50, 100}[r.IntN(4)],
		Cooldown:            []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute}[r.IntN(3)],
		StablePeriod:        []time.Duration{2 * time.Minute, 5 * time.Minute}[r.IntN(2)],
		FailbackStepPercent: []int32{10, 25, 50}[r.IntN(3)],
	}
	var headroom *int32
	if r.IntN(2) == 0 {
		headroom = new(int32(30 + r.IntN(60)))
	}
	targets := []*simTarget{
		{name: "us-east-1", home: 100, validated: true, weight: 100},
		{name: "us-west-2", validated: true, headroom: headroom},
		{name: "eu-west-1"}, // the model is not served there: never a destination
		{name: "ap-northeast-1", validated: true},
	}
	start := noon
	const step = 15 * time.Second
	incident, recovery, end := start.Add(10*time.Minute), start.Add(40*time.Minute), start.Add(3*time.Hour)
	var lastShift time.Time
	shifted, changes := false, 0

	for now := start; now.Before(end); now = now.Add(step) {
		in.Now, in.LastShift, in.Targets = now, lastShift, nil
		flaky := r.IntN(100) < 4 // a metric source hiccup, for one target
		dropped := r.IntN(len(targets))
		for i, tg := range targets {
			requests := int64(tg.weight)*10 + int64(r.IntN(5))
			m := &TargetMetrics{Requests: requests, Errors: requests * int64(r.IntN(3)) / 100}
			if i == 0 && !now.Before(incident) && now.Before(recovery) {
				m.Throttles = requests * int64(20+r.IntN(30)) / 100
			}
			if flaky && dropped == i {
				m = nil
			}
			in.Targets = append(in.Targets, TargetInput{
				Name: tg.name, Weight: tg.weight, HomeWeight: tg.home, Validated: tg.validated,
				Metrics: m, HeadroomPercent: tg.headroom, HealthySince: tg.healthySince,
			})
		}

		plan := Failover(in)

		// Invariants.
		checkWeights(t, plan)
		for i, w := range plan.Weights {
			tg := targets[i]
			if !plan.Changed && w.Weight != tg.weight {
				t.Fatalf("%s: weights changed without Changed: %s", now, plan.Message)
			}
			if w.Weight > tg.weight {
				if !tg.validated {
					t.Fatalf("%s: unvalidated %s gained weight: %s", now, tg.name, plan.Message)
				}
				if tg.headroom != nil && w.Weight > *tg.headroom {
					t.Fatalf("%s: %s got %d, above its headroom %d", now, tg.name, w.Weight, *tg.headroom)
				}
				if plan.Reason == breakwaterv1alpha1.ReasonFailback && now.Sub(plan.Targets[i].HealthySince) < in.StablePeriod {
					t.Fatalf("%s: failback to %s before its stable period", now, tg.name)
				}
			}
		}
		if plan.Changed {
			changes++
			if !lastShift.IsZero() && now.Sub(lastShift) < in.Cooldown {
				t.Fatalf("%s: shift %s after the last one, inside the %s cooldown", now, now.Sub(lastShift), in.Cooldown)
			}
			if flaky {
				t.Fatalf("%s: shifted on missing metrics: %s", now, plan.Message)
			}
			if testing.Verbose() && seed == seeds[0] {
				t.Logf("%s Event %s: %s", now.Format("15:04:05"), plan.Reason, plan.Message)
			}
		}

		// Apply, as the reconciler would.
		if plan.Changed {
			lastShift = plan.LastShift
		}
		for i, tg := range targets {
			if plan.Apply {
				tg.weight = plan.Weights[i].Weight
			}
			tg.healthySince = plan.Targets[i].HealthySince
		}
		if targets[0].weight < 100 {
			shifted = true
		}
	}

	if !shifted {
		t.Fatal("traffic never moved away from the throttled region")
	}
	for _, tg := range targets {
		if tg.weight != tg.home {
			t.Fatalf("%s ends at weight %d, want its home weight %d", tg.name, tg.weight, tg.home)
		}
	}
	// Every change is at least a cooldown apart, so their number is bounded by the run's length.
	if limit := int(end.Sub(start)/in.Cooldown) + 1; changes > limit {
		t.Fatalf("%d changes in %s with a %s cooldown", changes, end.Sub(start), in.Cooldown)
	}
}

// simWorkload is a workload as the cluster sees it.
type simWorkload struct {
	WorkloadInput
	original    int32
	perReplica  int64 // tokens per minute one replica asks for at peak
	lastActions []time.Time
}

// TestSimulateQuotaRamp: usage ramps up to and past the quota and falls back; output is clamped,
// sheddable then standard workloads are shed, and everything is restored in the end.
func TestSimulateQuotaRamp(t *testing.T) {
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { simulateQuota(t, seed, false) })
	}
	t.Run("shadow", func(t *testing.T) { simulateQuota(t, seeds[0], true) })
}

func simulateQuota(t *testing.T, seed uint64, shadow bool) {
	r := newRand(seed)
	const limit = 1_000_000
	ws := []*simWorkload{
		{WorkloadInput: WorkloadInput{Name: "api", Criticality: critical, Replicas: 3}, perReplica: 60_000},
		{WorkloadInput: WorkloadInput{Name: "chat", Criticality: standard, Replicas: 4, MinReplicas: 1}, perReplica: 50_000},
		{WorkloadInput: WorkloadInput{Name: "search", Criticality: standard, Replicas: 2}, perReplica: 40_000},
		{WorkloadInput: WorkloadInput{Name: "batch", Criticality: sheddable, Replicas: 6}, perReplica: 40_000},
		{WorkloadInput: WorkloadInput{Name: "reports", Criticality: sheddable, Replicas: 2, MinReplicas: 1}, perReplica: 30_000},
	}
	for _, w := range ws {
		w.original = w.Replicas
	}
	cooldown := []time.Duration{2 * time.Minute, 5 * time.Minute}[r.IntN(2)]
	start := noon
	const step = 30 * time.Second
	end := start.Add(6 * time.Hour)

	// demand is the share of the peak the workloads ask for: quiet, a ramp to 130%, a plateau,
	// a fall, then quiet again.
	demand := func(now time.Time) float64 {
		m := now.Sub(start).Minutes()
		switch {
		case m < 20:
			return 0.3
		case m < 80:
			return 0.3 + (m-20)/60
		case m < 140:
			return 1.3
		case m < 200:
			return 1.3 - (m-140)/60
		default:
			return 0.3
		}
	}

	state, since := breakwaterv1alpha1.QuotaNormal, time.Time{}
	seen := map[breakwaterv1alpha1.QuotaState]bool{}
	var shedSeen []string
	for now := start; now.Before(end); now = now.Add(step) {
		// Usage follows the replicas that run: shedding really lowers it.
		var tpm int64
		for _, w := range ws {
			noise := 0.95 + 0.1*r.Float64()
			tpm += int64(float64(int64(w.Replicas)*w.perReplica) * demand(now) * noise)
		}
		usage := QuotaUsage{TokensPerMinute: &tpm}
		missing := r.IntN(100) < 3
		if missing {
			usage.TokensPerMinute = nil
		}

		q := QuotaState(QuotaInput{
			Now: now, Limits: QuotaLimits{TokensPerMinute: limit}, Usage: usage,
			Previous: state, PreviousSince: since, MaxOutputTokens: 4096,
		})
		checkQuotaStep(t, now, state, since, tpm*1000/limit, missing, q)
		if q.Changed && testing.Verbose() && seed == seeds[0] && !shadow {
			t.Logf("%s Event %s: %s", now.Format("15:04:05"), q.Reason, q.Message)
		}
		state, since = q.State, q.Since
		seen[state] = true

		in := ScaleInput{Now: now, State: state, StateSince: since, Cooldown: cooldown, Shadow: shadow,
			MetricsUnavailable: q.Reason == breakwaterv1alpha1.ReasonMetricsUnavailable}
		for _, w := range ws {
			in.Workloads = append(in.Workloads, w.WorkloadInput)
		}
		plan := Scale(in)
		checkScaleStep(t, now, in, plan)
		if shadow && plan.Apply {
			t.Fatalf("%s: shadow plan with Apply", now)
		}

		for _, a := range plan.Actions {
			if testing.Verbose() && seed == seeds[0] && !shadow {
				t.Logf("%s Event %s: %s", now.Format("15:04:05"), a.Reason, a.Message)
			}
			if !plan.Apply {
				continue
			}
			w := ws[slices.IndexFunc(ws, func(w *simWorkload) bool { return w.Name == a.Workload })]
			if n := len(w.lastActions); n > 0 && now.Sub(w.lastActions[n-1]) < cooldown {
				t.Fatalf("%s: %s acted on %s after its last action, inside the %s cooldown", now, w.Name, now.Sub(w.lastActions[n-1]), cooldown)
			}
			w.lastActions = append(w.lastActions, now)
			w.Replicas, w.Remembered, w.LastAction = a.To, a.Remember, now
			if !a.Restore {
				shedSeen = append(shedSeen, w.Name)
			}
		}
	}

	if state != breakwaterv1alpha1.QuotaNormal {
		t.Fatalf("quota ends %s, want Normal", state)
	}
	if !seen[breakwaterv1alpha1.QuotaWarning] || !seen[breakwaterv1alpha1.QuotaShedding] {
		t.Fatalf("the ramp never went through Warning and Shedding: %v", seen)
	}
	for _, w := range ws {
		if w.Replicas != w.original || w.Remembered != nil {
			t.Fatalf("%s ends at %d replicas (remembered %v), want %d restored", w.Name, w.Replicas, w.Remembered, w.original)
		}
	}
	if !shadow && !slices.Contains(shedSeen, "batch") {
		t.Fatalf("the sheddable workload was never shed: %v", shedSeen)
	}
	if shadow && len(shedSeen) > 0 {
		t.Fatalf("shadow mode scaled %v", shedSeen)
	}
}

// checkQuotaStep asserts the quota invariants of one step: escalation follows usage, a state is
// left only below its threshold minus the margin and after the dwell time, missing data never
// lowers the state, and the clamp is on exactly outside Normal.
func checkQuotaStep(t *testing.T, now time.Time, prev breakwaterv1alpha1.QuotaState, since time.Time, usedPermille int64, missing bool, q QuotaPlan) {
	t.Helper()
	in := QuotaInput{}.withDefaults()
	if QuotaSeverity(q.State) < QuotaSeverity(prev) {
		if missing {
			t.Fatalf("%s: %s → %s on missing metrics", now, prev, q.State)
		}
		if !since.IsZero() && now.Sub(since) < in.MinDwell {
			t.Fatalf("%s: %s → %s after %s, inside the %s dwell", now, prev, q.State, now.Sub(since), in.MinDwell)
		}
		if exit := in.exitPermille(prev); usedPermille >= exit {
			t.Fatalf("%s: %s → %s at %d‰, not below %d‰", now, prev, q.State, usedPermille, exit)
		}
	}
	if !missing && QuotaSeverity(q.State) < QuotaSeverity(in.level(usedPermille, -1, false)) {
		t.Fatalf("%s: state %s below what %d‰ calls for", now, q.State, usedPermille)
	}
	if (q.OutputTokenClamp > 0) != (q.State != breakwaterv1alpha1.QuotaNormal) {
		t.Fatalf("%s: clamp %d in %s", now, q.OutputTokenClamp, q.State)
	}
	if q.Changed != (q.State != prev) {
		t.Fatalf("%s: Changed %v for %s → %s", now, q.Changed, prev, q.State)
	}
}

// checkScaleStep asserts the scale invariants of one plan: critical never scaled down, nothing
// under Warning, sheddable before standard, restores only after a cooldown of Normal.
func checkScaleStep(t *testing.T, now time.Time, in ScaleInput, plan ScalePlan) {
	t.Helper()
	byName := map[string]WorkloadInput{}
	for _, w := range in.Workloads {
		byName[w.Name] = w
	}
	acted := map[string]bool{}
	if in.MetricsUnavailable && len(plan.Actions) > 0 {
		t.Fatalf("%s: scaled on missing metrics: %s", now, plan.Message)
	}
	for _, a := range plan.Actions {
		w := byName[a.Workload]
		if acted[a.Workload] {
			t.Fatalf("%s: two actions on %s in one plan", now, a.Workload)
		}
		acted[a.Workload] = true
		if !w.LastAction.IsZero() && now.Sub(w.LastAction) < in.Cooldown {
			t.Fatalf("%s: %s acted on inside its cooldown", now, a.Workload)
		}
		if a.Restore {
			if a.To < *w.Remembered || a.Remember != nil {
				t.Fatalf("%s: restore of %s to %d, remembered %d", now, a.Workload, a.To, *w.Remembered)
			}
			if w.Criticality != critical && (in.State != breakwaterv1alpha1.QuotaNormal || now.Sub(in.StateSince) < in.Cooldown) {
				t.Fatalf("%s: %s restored in %s after %s", now, a.Workload, in.State, now.Sub(in.StateSince))
			}
			continue
		}
		switch {
		case w.Criticality == critical:
			t.Fatalf("%s: critical %s scaled down", now, a.Workload)
		case in.State != breakwaterv1alpha1.QuotaShedding && in.State != breakwaterv1alpha1.QuotaExhausted:
			t.Fatalf("%s: %s shed in %s", now, a.Workload, in.State)
		case a.To != w.MinReplicas || a.Remember == nil || *a.Remember != w.Replicas:
			t.Fatalf("%s: bad shed action %+v for %+v", now, a, w)
		}
		if w.Criticality == standard && in.State == breakwaterv1alpha1.QuotaShedding {
			for _, o := range in.Workloads {
				if o.Criticality == sheddable && o.Remembered == nil && o.Replicas > o.MinReplicas {
					t.Fatalf("%s: standard %s shed while sheddable %s still runs", now, a.Workload, o.Name)
				}
			}
		}
	}
}

// TestSimulateFlappingQuota: usage hovers around a threshold, inside the hysteresis margin. Once
// the quota is up, it must stay up: no flapping at all.
func TestSimulateFlappingQuota(t *testing.T) {
	for _, seed := range seeds {
		for _, centre := range []int64{80, 90} {
			t.Run(fmt.Sprint(seed, "/", centre), func(t *testing.T) {
				r := newRand(seed)
				state, since := breakwaterv1alpha1.QuotaNormal, time.Time{}
				transitions := 0
				for now := noon; now.Before(noon.Add(2 * time.Hour)); now = now.Add(10 * time.Second) {
					// centre ± 4.9 points, in tenths of a percent of a 1000000 limit.
					tpm := (centre*10 + int64(r.IntN(99)) - 49) * 1000
					q := QuotaState(QuotaInput{
						Now: now, Limits: QuotaLimits{TokensPerMinute: 1_000_000}, Usage: QuotaUsage{TokensPerMinute: &tpm},
						Previous: state, PreviousSince: since,
					})
					checkQuotaStep(t, now, state, since, tpm/1000, false, q)
					if q.Changed {
						transitions++
					}
					state, since = q.State, q.Since
				}
				// Normal → Warning (→ Shedding for 90), then never down again.
				if most := map[int64]int{80: 1, 90: 2}[centre]; transitions > most {
					t.Fatalf("%d transitions while usage hovered around %d%%, want at most %d", transitions, centre, most)
				}
			})
		}
	}
}

// TestSimulateFlappingTarget: a target's throttle rate hovers around its trigger. Shifts never
// come closer than a cooldown, and failback never starts before the stable period.
func TestSimulateFlappingTarget(t *testing.T) {
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := newRand(seed)
			in := FailoverInput{Triggers: Triggers{ThrottleRatePercent: 10}, Cooldown: time.Minute, StablePeriod: 5 * time.Minute}
			weights := []int32{100, 0}
			since := []time.Time{{}, {}}
			var lastShift time.Time
			lastUnhealthy := time.Time{}
			for now := noon; now.Before(noon.Add(time.Hour)); now = now.Add(5 * time.Second) {
				req := int64(weights[0])*10 + 100 // enough requests to count, even when drained
				throttles := req * int64(5+r.IntN(11)) / 100
				in.Now, in.LastShift = now, lastShift
				in.Targets = []TargetInput{
					{Name: "a", Weight: weights[0], HomeWeight: 100, Validated: true, HealthySince: since[0],
						Metrics: &TargetMetrics{Requests: req, Throttles: throttles}},
					{Name: "b", Weight: weights[1], Validated: true, HealthySince: since[1], Metrics: healthy(int64(weights[1]) * 10)},
				}
				plan := Failover(in)
				checkWeights(t, plan)
				if !plan.Targets[0].Healthy {
					lastUnhealthy = now
				}
				if plan.Changed {
					if !lastShift.IsZero() && now.Sub(lastShift) < in.Cooldown {
						t.Fatalf("%s: shift inside the cooldown", now)
					}
					if plan.Reason == breakwaterv1alpha1.ReasonFailback && now.Sub(lastUnhealthy) < in.StablePeriod {
						t.Fatalf("%s: failback %s after the target was last unhealthy", now, now.Sub(lastUnhealthy))
					}
					lastShift = now
				}
				for i := range weights {
					weights[i], since[i] = plan.Weights[i].Weight, plan.Targets[i].HealthySince
				}
			}
		})
	}
}

// TestSimulateQuotaPressure: demand on an endpoint surges past its home region's tokens-per-minute
// quota and recedes. The quota trigger moves traffic to the standby region, never more than that
// region's own quota headroom allows (QuotaHeadroom), and traffic returns home once demand falls.
func TestSimulateQuotaPressure(t *testing.T) {
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { simulateQuotaPressure(t, seed) })
	}
}

func simulateQuotaPressure(t *testing.T, seed uint64) {
	r := newRand(seed)
	const quotaPercent = 90
	in := FailoverInput{
		Triggers:            Triggers{QuotaPercent: quotaPercent, ThrottleRatePercent: 5, MinRequests: 20},
		StepPercent:         []int32{25, 50, 100}[r.IntN(3)],
		Cooldown:            []time.Duration{30 * time.Second, time.Minute}[r.IntN(2)],
		StablePeriod:        []time.Duration{2 * time.Minute, 5 * time.Minute}[r.IntN(2)],
		FailbackStepPercent: []int32{10, 25, 50}[r.IntN(3)],
	}
	limits := []int64{100_000, 40_000 + int64(r.IntN(30_000))}
	targets := []*simTarget{
		{name: "us-east-1", home: 100, validated: true, weight: 100},
		{name: "us-west-2", validated: true},
	}
	start := noon
	const step = 15 * time.Second
	surge, calm, end := start.Add(10*time.Minute), start.Add(40*time.Minute), start.Add(2*time.Hour)
	var lastShift time.Time
	sawQuota := false
	for now := start; now.Before(end); now = now.Add(step) {
		demand := int64(60_000)
		if !now.Before(surge) && now.Before(calm) {
			demand = 130_000
		}
		demand += int64(r.IntN(5000))
		others := []int64{int64(r.IntN(3000)), int64(r.IntN(3000))} // the account's other applications
		in.Now, in.LastShift, in.Targets = now, lastShift, nil
		headrooms := make([]*int32, len(targets))
		for i, tg := range targets {
			used := demand*int64(tg.weight)/100 + others[i]
			headrooms[i] = QuotaHeadroom(limits[i], others[i], demand, quotaPercent)
			in.Targets = append(in.Targets, TargetInput{
				Name: tg.name, Weight: tg.weight, HomeWeight: tg.home, Validated: tg.validated,
				Metrics:         &TargetMetrics{Requests: int64(tg.weight) * 10, QuotaTokensPerMinute: used, QuotaLimit: limits[i]},
				HeadroomPercent: headrooms[i], HealthySince: tg.healthySince,
			})
		}

		plan := Failover(in)

		checkWeights(t, plan)
		for i, w := range plan.Weights {
			if w.Weight > targets[i].weight && headrooms[i] != nil && w.Weight > *headrooms[i] {
				t.Fatalf("%s: %s got %d, above its quota headroom %d: %s", now, targets[i].name, w.Weight, *headrooms[i], plan.Message)
			}
		}
		if plan.Changed {
			if !lastShift.IsZero() && now.Sub(lastShift) < in.Cooldown {
				t.Fatalf("%s: shift inside the cooldown", now)
			}
			if plan.Reason == breakwaterv1alpha1.ReasonQuotaHigh {
				sawQuota = true
				// The destination stays below its own trigger after the move, at this demand.
				for i, w := range plan.Weights {
					if w.Weight > targets[i].weight && permille(demand*int64(w.Weight)/100+others[i], limits[i]) >= quotaPercent*10 {
						t.Fatalf("%s: moving %s to %d puts it over its quota trigger", now, targets[i].name, w.Weight)
					}
				}
			}
			if testing.Verbose() && seed == seeds[0] {
				t.Logf("%s Event %s: %s", now.Format("15:04:05"), plan.Reason, plan.Message)
			}
			lastShift = plan.LastShift
		}
		for i, tg := range targets {
			if plan.Apply {
				tg.weight = plan.Weights[i].Weight
			}
			tg.healthySince = plan.Targets[i].HealthySince
		}
	}
	if !sawQuota {
		t.Fatal("the quota trigger never moved traffic during the surge")
	}
	for _, tg := range targets {
		if tg.weight != tg.home {
			t.Fatalf("%s ends at weight %d, want its home weight %d", tg.name, tg.weight, tg.home)
		}
	}
}

// TestSimulateRegionOutageFailback: the home region fails for 6 hours whenever it has traffic, and
// with none it looks healthy (nothing to count). Each failback step that fails again doubles the
// stable period before the next one (issue #14 item 6), so the outage sees about log2(6 h / 5 min)
// failback steps instead of one per stable period; once the region is well, traffic returns home
// and the count resets.
func TestSimulateRegionOutageFailback(t *testing.T) {
	const outage = 6 * time.Hour
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			withRule := simulateOutage(t, seed, outage, true)
			without := simulateOutage(t, seed, outage, false)
			limit := int(math.Floor(math.Log2(float64(outage / (5 * time.Minute)))))
			t.Logf("failback steps into the failing region over %s: %d with the doubling stable period, %d without (limit %d)",
				outage, withRule.probes, without.probes, limit)
			if withRule.probes > limit {
				t.Errorf("%d failback steps during the outage, want at most log2(6 h / 5 min) = %d", withRule.probes, limit)
			}
			if !withRule.home {
				t.Error("traffic did not return home after the region recovered")
			}
		})
	}
}

type outageRun struct {
	probes int  // failback steps toward the failing region during the outage
	home   bool // weights back at home by the end, with the failure count reset
}

func simulateOutage(t *testing.T, seed uint64, outage time.Duration, rule bool) outageRun {
	t.Helper()
	r := newRand(seed)
	in := FailoverInput{Triggers: Triggers{ThrottleRatePercent: 10}, Cooldown: time.Minute, StablePeriod: 5 * time.Minute}
	weights := []int32{100, 0}
	since := []time.Time{{}, {}}
	var last *breakwaterv1alpha1.WeightShift
	var failed int32
	var run outageRun
	end := noon.Add(outage + 4*time.Hour) // the capped stable period (2 h 40 min) plus failback steps
	for now := noon; now.Before(end); now = now.Add(15 * time.Second) {
		failing := now.Before(noon.Add(outage))
		req := int64(weights[0]) * 10
		throttles := int64(0)
		if failing {
			throttles = req * int64(30+r.IntN(40)) / 100
		}
		in.Now, in.LastShift, in.LastFailbackTo, in.FailedFailbacks = now, time.Time{}, "", 0
		if last != nil {
			in.LastShift = last.Time.Time
			if last.Reason == breakwaterv1alpha1.ReasonFailback {
				in.LastFailbackTo = last.To
			}
		}
		if rule {
			in.FailedFailbacks = failed
		}
		in.Targets = []TargetInput{
			{Name: "home", Weight: weights[0], HomeWeight: 100, Validated: true, HealthySince: since[0],
				Metrics: &TargetMetrics{Requests: req, Throttles: throttles}},
			{Name: "standby", Weight: weights[1], Validated: true, HealthySince: since[1], Metrics: healthy(int64(weights[1]) * 10)},
		}
		plan := Failover(in)
		checkWeights(t, plan)
		if plan.Changed {
			if plan.Reason == breakwaterv1alpha1.ReasonFailback && failing {
				run.probes++
			}
			last = &breakwaterv1alpha1.WeightShift{Time: metav1.NewTime(now), Reason: plan.Reason, From: plan.Moves[0].From, To: plan.Moves[0].To}
		}
		failed = plan.FailedFailbacks
		for i := range weights {
			weights[i], since[i] = plan.Weights[i].Weight, plan.Targets[i].HealthySince
		}
	}
	run.home = weights[0] == 100 && failed == 0
	return run
}

// TestSimulateSustainedOverDemand: for 24 hours the workloads ask for twice the quota. Shedding
// brings usage down, restoring brings it back, so without a rule the quota sheds and restores about
// once per cooldown plus dwell. RestoreWait doubles the Normal time required before each restore
// per shed cycle of the last 6 hours; the figures say how many cycles each way.
func TestSimulateSustainedOverDemand(t *testing.T) {
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			with := simulateSustained(t, seed, true)
			without := simulateSustained(t, seed, false)
			t.Logf("shed/restore cycles in 24 h at 2x demand: %d with the doubling restore wait (at most %d in any hour after the first 6), %d without (%d in the busiest hour)",
				with.cycles, with.maxPerHourLate, without.cycles, without.maxPerHour)
			if with.cycles*3 > without.cycles {
				t.Errorf("%d cycles with the rule, %d without: want at most a third", with.cycles, without.cycles)
			}
			if with.maxPerHourLate > 1 {
				t.Errorf("%d shed/restore cycles in one hour once the backoff has grown, want at most 1", with.maxPerHourLate)
			}
		})
	}
}

type sustainedRun struct {
	cycles         int
	maxPerHour     int // over the whole day
	maxPerHourLate int // over the hours after the first 6, once the backoff has grown
}

func simulateSustained(t *testing.T, seed uint64, rule bool) sustainedRun {
	t.Helper()
	r := newRand(seed)
	const limit = 1_000_000
	ws := []*simWorkload{
		{WorkloadInput: WorkloadInput{Name: "api", Criticality: critical, Replicas: 3}, perReplica: 60_000},
		{WorkloadInput: WorkloadInput{Name: "chat", Criticality: standard, Replicas: 4, MinReplicas: 1}, perReplica: 100_000},
		{WorkloadInput: WorkloadInput{Name: "batch", Criticality: sheddable, Replicas: 6}, perReplica: 160_000},
	}
	const cooldown = 5 * time.Minute
	state, since := breakwaterv1alpha1.QuotaNormal, time.Time{}
	var sheds []time.Time
	var run sustainedRun
	perHour := map[int]int{}
	for now := noon; now.Before(noon.Add(24 * time.Hour)); now = now.Add(30 * time.Second) {
		var tpm int64
		for _, w := range ws {
			tpm += int64(float64(int64(w.Replicas)*w.perReplica) * (0.95 + 0.1*r.Float64()))
		}
		q := QuotaState(QuotaInput{Now: now, Limits: QuotaLimits{TokensPerMinute: limit}, Usage: QuotaUsage{TokensPerMinute: &tpm},
			Previous: state, PreviousSince: since, MaxOutputTokens: 4096})
		state, since = q.State, q.Since
		in := ScaleInput{Now: now, State: state, StateSince: since, Cooldown: cooldown}
		if rule {
			in.RecentSheds = sheds
		}
		for _, w := range ws {
			in.Workloads = append(in.Workloads, w.WorkloadInput)
		}
		plan := Scale(in)
		checkScaleStep(t, now, in, plan)
		if starts := len(plan.RecentSheds) > 0 && plan.RecentSheds[len(plan.RecentSheds)-1].Equal(now); starts {
			run.cycles++
			perHour[int(now.Sub(noon)/time.Hour)]++
		}
		sheds = plan.RecentSheds
		for _, a := range plan.Actions {
			w := ws[slices.IndexFunc(ws, func(w *simWorkload) bool { return w.Name == a.Workload })]
			w.Replicas, w.Remembered, w.LastAction = a.To, a.Remember, now
		}
	}
	for h, n := range perHour {
		run.maxPerHour = max(run.maxPerHour, n)
		if h >= 6 {
			run.maxPerHourLate = max(run.maxPerHourLate, n)
		}
	}
	return run
}

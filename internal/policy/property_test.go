package policy

import (
	"fmt"
	"testing"
	"time"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

// The property tests throw seeded random inputs, including odd ones (weights that do not sum to
// 100, negative numbers, headroom below the current weight), at each decision and check the
// invariants that must hold whatever the input.

func TestFailoverProperties(t *testing.T) {
	r := newRand(5)
	for i := range 20000 {
		n := 1 + r.IntN(6)
		in := FailoverInput{
			Now:                 noon,
			Triggers:            Triggers{ThrottleRatePercent: int32(r.IntN(30)), ErrorRatePercent: int32(r.IntN(30)), P99Latency: time.Duration(r.IntN(10)) * time.Second, QuotaPercent: int32(r.IntN(100))},
			StepPercent:         int32(r.IntN(101)),
			Cooldown:            time.Duration(r.IntN(120)) * time.Second,
			StablePeriod:        time.Duration(r.IntN(600)) * time.Second,
			FailbackStepPercent: int32(r.IntN(101)),
			FailbackDisabled:    r.IntN(4) == 0,
			AllowUnvalidated:    r.IntN(4) == 0,
			Shadow:              r.IntN(4) == 0,
		}
		if r.IntN(2) == 0 {
			in.LastShift = noon.Add(-time.Duration(r.IntN(300)) * time.Second)
		}
		for j := range n {
			tg := TargetInput{
				Name: fmt.Sprint("t", j), Weight: int32(r.IntN(120) - 10), HomeWeight: int32(r.IntN(101)),
				Validated: r.IntN(3) > 0,
			}
			if r.IntN(20) > 0 {
				req := int64(r.IntN(200))
				tg.Metrics = &TargetMetrics{
					Requests: req, Errors: int64(r.IntN(int(req) + 1)), Throttles: int64(r.IntN(int(req) + 1)),
					P99: time.Duration(r.IntN(12)) * time.Second, QuotaTokensPerMinute: int64(r.IntN(1000)), QuotaLimit: int64(r.IntN(1000)),
				}
			}
			if r.IntN(3) == 0 {
				tg.HeadroomPercent = new(int32(r.IntN(120) - 10))
			}
			if r.IntN(2) == 0 {
				tg.HealthySince = noon.Add(-time.Duration(r.IntN(900)) * time.Second)
			}
			in.Targets = append(in.Targets, tg)
		}

		plan := Failover(in)
		checkWeights(t, plan)
		before := newFailover(in.withDefaults()).cur // the normalised current weights
		for j, w := range plan.Weights {
			if !plan.Changed && w.Weight != before[j] {
				t.Fatalf("case %d: weights changed without Changed: %s", i, plan.Message)
			}
			if w.Weight > before[j] {
				tg := in.Targets[j]
				if !tg.Validated && !in.AllowUnvalidated {
					t.Fatalf("case %d: unvalidated %s gained weight: %s", i, tg.Name, plan.Message)
				}
				if tg.HeadroomPercent != nil && w.Weight > max(*tg.HeadroomPercent, 0) {
					t.Fatalf("case %d: %s got %d above its headroom %d", i, tg.Name, w.Weight, *tg.HeadroomPercent)
				}
				if !plan.Targets[j].Healthy {
					t.Fatalf("case %d: unhealthy %s gained weight", i, tg.Name)
				}
			}
		}
		if plan.Changed {
			if !in.LastShift.IsZero() && noon.Sub(in.LastShift) < in.withDefaults().Cooldown {
				t.Fatalf("case %d: change inside the cooldown: %s", i, plan.Message)
			}
			if plan.Apply == in.Shadow {
				t.Fatalf("case %d: Apply %v in shadow %v", i, plan.Apply, in.Shadow)
			}
		}
	}
}

func TestScaleProperties(t *testing.T) {
	r := newRand(6)
	states := []breakwaterv1alpha1.QuotaState{"", breakwaterv1alpha1.QuotaNormal, breakwaterv1alpha1.QuotaWarning, breakwaterv1alpha1.QuotaShedding, breakwaterv1alpha1.QuotaExhausted}
	for i := range 20000 {
		in := ScaleInput{
			Now: noon, State: states[r.IntN(len(states))], StateSince: noon.Add(-time.Duration(r.IntN(900)) * time.Second),
			Cooldown: time.Duration(r.IntN(600)) * time.Second, Shadow: r.IntN(4) == 0, MetricsUnavailable: r.IntN(8) == 0,
		}
		for j := range r.IntN(8) {
			w := WorkloadInput{
				Name:        fmt.Sprint("w", j),
				Criticality: []breakwaterv1alpha1.Criticality{"", critical, standard, sheddable}[r.IntN(4)],
				Replicas:    int32(r.IntN(10)), MinReplicas: int32(r.IntN(3)),
			}
			if r.IntN(3) == 0 {
				w.Remembered = new(int32(r.IntN(10)))
			}
			if r.IntN(2) == 0 {
				w.LastAction = noon.Add(-time.Duration(r.IntN(900)) * time.Second)
			}
			in.Workloads = append(in.Workloads, w)
		}
		plan := Scale(in)
		cooldown := in.Cooldown
		if cooldown <= 0 {
			cooldown = DefaultScaleCooldown
		}
		seen := map[string]bool{}
		for _, a := range plan.Actions {
			var w WorkloadInput
			for _, x := range in.Workloads {
				if x.Name == a.Workload {
					w = x
				}
			}
			switch {
			case seen[a.Workload]:
				t.Fatalf("case %d: two actions on %s", i, a.Workload)
			case !w.LastAction.IsZero() && noon.Sub(w.LastAction) < cooldown:
				t.Fatalf("case %d: %s acted on inside its cooldown", i, a.Workload)
			case !a.Restore && (w.Criticality == critical || a.To >= a.From):
				t.Fatalf("case %d: bad shed %+v of %+v", i, a, w)
			case a.Restore && (w.Remembered == nil || a.To < a.From):
				t.Fatalf("case %d: bad restore %+v of %+v", i, a, w)
			case in.State == breakwaterv1alpha1.QuotaWarning && w.Criticality != critical:
				t.Fatalf("case %d: %s scaled under Warning", i, a.Workload)
			case in.MetricsUnavailable && w.Criticality != critical:
				t.Fatalf("case %d: %s scaled on missing metrics", i, a.Workload)
			}
			seen[a.Workload] = true
		}
		if plan.Apply != (len(plan.Actions) > 0 && !in.Shadow) {
			t.Fatalf("case %d: Apply %v with %d actions, shadow %v", i, plan.Apply, len(plan.Actions), in.Shadow)
		}
		if plan.Reason == "" || plan.Message == "" {
			t.Fatalf("case %d: empty reason or message", i)
		}
	}
}

func TestQuotaProperties(t *testing.T) {
	r := newRand(7)
	states := []breakwaterv1alpha1.QuotaState{"", breakwaterv1alpha1.QuotaNormal, breakwaterv1alpha1.QuotaWarning, breakwaterv1alpha1.QuotaShedding, breakwaterv1alpha1.QuotaExhausted}
	opt := func(limit int64) *int64 {
		if r.IntN(10) == 0 {
			return nil
		}
		return new(int64(r.Int64N(limit*12/10 + 1)))
	}
	for i := range 20000 {
		now := noon.Add(time.Duration(r.IntN(86400)) * time.Second)
		in := QuotaInput{
			Now:      now,
			Previous: states[r.IntN(len(states))], PreviousSince: now.Add(-time.Duration(r.IntN(300)) * time.Second),
			MaxOutputTokens: int64(r.IntN(8192)),
		}
		warn := int32(1 + r.IntN(98))
		shed := warn + 1 + int32(r.IntN(int(100-warn)))
		in.WarnPercent, in.ShedPercent, in.HardPercent = warn, shed, shed+int32(r.IntN(int(101-shed)))
		if r.IntN(2) == 0 {
			in.Limits.TokensPerMinute = 1 + r.Int64N(1_000_000)
			in.Usage.TokensPerMinute = opt(in.Limits.TokensPerMinute)
		}
		if r.IntN(2) == 0 {
			in.Limits.TokensPerDay = 1 + r.Int64N(1_000_000_000)
			in.Usage.TokensToday = opt(in.Limits.TokensPerDay)
		}
		plan := QuotaState(in)
		prev := in.Previous
		if prev == "" {
			prev = breakwaterv1alpha1.QuotaNormal
		}
		d := in.withDefaults()
		switch {
		case plan.Reason == "" || plan.Message == "":
			t.Fatalf("case %d: empty reason or message", i)
		case plan.Changed != (plan.State != prev):
			t.Fatalf("case %d: Changed %v for %s → %s", i, plan.Changed, prev, plan.State)
		case QuotaSeverity(plan.State) < QuotaSeverity(prev) && in.Now.Sub(in.PreviousSince) < d.MinDwell:
			t.Fatalf("case %d: %s → %s inside the dwell", i, prev, plan.State)
		case (plan.OutputTokenClamp > 0) != (plan.State != breakwaterv1alpha1.QuotaNormal):
			t.Fatalf("case %d: clamp %d in %s", i, plan.OutputTokenClamp, plan.State)
		case in.MaxOutputTokens > 0 && plan.OutputTokenClamp > in.MaxOutputTokens:
			t.Fatalf("case %d: clamp %d above maxOutputTokens %d", i, plan.OutputTokenClamp, in.MaxOutputTokens)
		}
	}
}

func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"0", "250", "0.003", "999999999.999999999", "1.", "-1", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseMoney(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("ParseMoney(%q) = %d, negative", s, n)
		}
		back, err := ParseMoney(n.String())
		if err != nil || back != n {
			t.Fatalf("ParseMoney(%q) = %d prints as %q, which parses as %d, %v", s, n, n.String(), back, err)
		}
	})
}

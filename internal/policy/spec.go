package policy

import (
	"fmt"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

// FailoverSettings copies a FailoverPolicy's spec into a FailoverInput; the reconciler adds Now,
// Targets and LastShift. Absent fields stay zero and take the defaults.
func FailoverSettings(spec breakwaterv1alpha1.FailoverPolicySpec) FailoverInput {
	tr := spec.Triggers
	in := FailoverInput{
		Triggers: Triggers{
			MinRequests: int64(tr.MinRequests),
			Window:      tr.Window.Duration,
		},
		StepPercent:         spec.Shift.StepPercent,
		Cooldown:            spec.Shift.Cooldown.Duration,
		FailbackDisabled:    spec.Failback.Enabled != nil && !*spec.Failback.Enabled,
		StablePeriod:        spec.Failback.StablePeriod.Duration,
		FailbackStepPercent: spec.Failback.StepPercent,
		AllowUnvalidated:    spec.RequireValidatedTargets != nil && !*spec.RequireValidatedTargets,
		Shadow:              spec.Mode == breakwaterv1alpha1.ModeShadow,
	}
	if tr.ErrorRatePercent != nil {
		in.Triggers.ErrorRatePercent = *tr.ErrorRatePercent
	}
	if tr.ThrottleRatePercent != nil {
		in.Triggers.ThrottleRatePercent = *tr.ThrottleRatePercent
	}
	if tr.P99Latency != nil {
		in.Triggers.P99Latency = tr.P99Latency.Duration
	}
	if tr.QuotaPercent != nil {
		in.Triggers.QuotaPercent = *tr.QuotaPercent
	}
	return in
}

// QuotaSettings copies a TokenQuota's spec into a QuotaInput; the reconciler adds Now, Usage,
// Previous, PreviousSince, MaxOutputTokens and, for a serviceQuota, Limits.TokensPerMinute. It
// fails only on a costPerDay the API server should have refused.
func QuotaSettings(spec breakwaterv1alpha1.TokenQuotaSpec) (QuotaInput, error) {
	l := spec.Limits
	in := QuotaInput{
		WarnPercent: spec.Thresholds.WarnPercent,
		ShedPercent: spec.Thresholds.ShedPercent,
		HardPercent: spec.Thresholds.HardPercent,
	}
	if l.TokensPerMinute != nil {
		in.Limits.TokensPerMinute = *l.TokensPerMinute
	}
	if l.TokensPerDay != nil {
		in.Limits.TokensPerDay = *l.TokensPerDay
	}
	if l.CostPerDay != nil {
		c, err := ParseMoney(string(*l.CostPerDay))
		if err != nil {
			return in, fmt.Errorf("limits.costPerDay: %w", err)
		}
		in.Limits.CostPerDay = c
	}
	return in, nil
}

// ScaleWorkload copies what Scale needs from a GenAIWorkload; the reconciler adds Replicas (from
// the scale subresource) and LastAction (the Shed condition's lastTransitionTime is a good
// record: it changes on every shed and restore).
func ScaleWorkload(w *breakwaterv1alpha1.GenAIWorkload) WorkloadInput {
	in := WorkloadInput{
		Name:        w.Name,
		Criticality: w.Spec.Criticality,
		Remembered:  w.Status.RememberedReplicas,
	}
	if m := w.Spec.Shedding.MinReplicas; m != nil {
		in.MinReplicas = *m
	}
	return in
}

package policy

import (
	"slices"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

// TargetWeight is a target's spec weight, with the CRD's default of 100 when it is unset (the API
// server fills it in; objects built in memory may not have it).
func TargetWeight(t breakwaterv1alpha1.ModelTarget) int32 {
	if t.Weight == nil {
		return 100
	}
	return *t.Weight
}

// HomeWeights are an endpoint's spec weights as whole percentages that sum to 100 (all zero when
// every spec weight is zero): where failback returns to, and what the endpoint's status shows
// while no policy's weights are in force.
func HomeWeights(targets []breakwaterv1alpha1.ModelTarget) map[string]int32 {
	raw := make([]int64, len(targets))
	for i, t := range targets {
		raw[i] = int64(TargetWeight(t))
	}
	pct := LargestRemainder(raw, 100)
	w := make(map[string]int32, len(targets))
	for i, t := range targets {
		w[t.Name] = 0
		if pct != nil {
			w[t.Name] = pct[i]
		}
	}
	return w
}

// PolicyWeights are a FailoverPolicy's status weights when they are in force for an endpoint with
// these targets: they name exactly its targets and sum to 100 (what the failover loop writes).
// Otherwise (no decision yet, or the endpoint's targets changed since) they are stale, ok is false,
// and the endpoint's spec weights are the better truth.
func PolicyWeights(status []breakwaterv1alpha1.TargetWeight, targets []breakwaterv1alpha1.ModelTarget) (weights map[string]int32, ok bool) {
	if len(status) != len(targets) {
		return nil, false
	}
	w := make(map[string]int32, len(status))
	var sum int64
	for _, tw := range status {
		if tw.Weight < 0 {
			return nil, false
		}
		w[tw.Target] = tw.Weight
		sum += int64(tw.Weight)
	}
	if sum != 100 {
		return nil, false
	}
	for _, t := range targets {
		if _, found := w[t.Name]; !found {
			return nil, false
		}
	}
	return w, true
}

// CurrentWeights are the percentages an endpoint's traffic is split by, given the status weights
// of the policy steering it (nil when none does): the policy's weights when they are in force
// (PolicyWeights), else the spec weights (HomeWeights).
func CurrentWeights(status []breakwaterv1alpha1.TargetWeight, targets []breakwaterv1alpha1.ModelTarget) map[string]int32 {
	if w, ok := PolicyWeights(status, targets); ok {
		return w
	}
	return HomeWeights(targets)
}

// SteeringPolicy is the FailoverPolicy among policies whose weights the guards of the named
// endpoint are given, or nil: the first by name that names the endpoint, is Ready (one that is not
// has not validated its targets against the endpoint) and has status weights. Its weights are in
// force only as PolicyWeights says; when they are stale the guards use the spec weights. The
// renderer and the ModelEndpoint's status both choose with it, so status shows what the guards do.
func SteeringPolicy(policies []breakwaterv1alpha1.FailoverPolicy, endpoint string) *breakwaterv1alpha1.FailoverPolicy {
	var best *breakwaterv1alpha1.FailoverPolicy
	for i := range policies {
		p := &policies[i]
		if p.Spec.EndpointRef.Name != endpoint || len(p.Status.Weights) == 0 ||
			!apimeta.IsStatusConditionTrue(p.Status.Conditions, breakwaterv1alpha1.ConditionReady) {
			continue
		}
		if best == nil || p.Name < best.Name {
			best = p
		}
	}
	return best
}

// MergeWeights puts a plan's weights (they sum to 100 over the policy's targets, the steered ones)
// into an endpoint's current weights. When the policy steers only some of the endpoint's targets,
// the others keep their weights and the plan is scaled into what they leave, by largest remainder.
func MergeWeights(current map[string]int32, plan []breakwaterv1alpha1.TargetWeight, steered []string) map[string]int32 {
	out := make(map[string]int32, len(current))
	var fixed int64
	for name, w := range current {
		out[name] = w
		if !slices.Contains(steered, name) {
			fixed += int64(w)
		}
	}
	raw := make([]int64, len(plan))
	for i, tw := range plan {
		raw[i] = int64(tw.Weight)
	}
	scaled := LargestRemainder(raw, 100-fixed)
	for i, tw := range plan {
		out[tw.Target] = 0
		if scaled != nil {
			out[tw.Target] = scaled[i]
		}
	}
	return out
}

// HealthySince stands in for a target's time of recovery, which the FailoverPolicy status has no
// field for. It is derived from status.lastShift, so it survives a restart and is the same on
// every evaluation:
//
//   - after a failback step onto the target, the target was stable then: it counts as healthy
//     since one stable period before that step, so the next step waits only for the cooldown;
//   - otherwise it counts as healthy since one window after the last shift: a target drained by
//     that shift gets no new requests, and once the window no longer holds its old failures no
//     trigger can fire on it, so the stable period runs from there;
//   - with no shift yet, since the policy was created.
//
// The limitation: a target that fired without causing a shift (cooldown, or no room elsewhere)
// and recovered is taken as healthy since that point too, so failback to it may start sooner than
// a stable period after its recovery. It still returns at most failback.stepPercent of the
// traffic, and a target that fires again is moved away within a cooldown.
//
// stablePeriod and window are the input's (zero takes the defaults).
func HealthySince(created time.Time, last *breakwaterv1alpha1.WeightShift, target string, stablePeriod, window time.Duration) time.Time {
	if last == nil {
		return created
	}
	if last.Reason == breakwaterv1alpha1.ReasonFailback && last.To == target {
		if stablePeriod <= 0 {
			stablePeriod = DefaultStablePeriod
		}
		return last.Time.Add(-stablePeriod)
	}
	if window <= 0 {
		window = DefaultWindow
	}
	return last.Time.Add(window)
}

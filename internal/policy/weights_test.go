package policy

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

func targets(weights ...int32) []breakwaterv1alpha1.ModelTarget {
	out := make([]breakwaterv1alpha1.ModelTarget, len(weights))
	for i, w := range weights {
		out[i] = breakwaterv1alpha1.ModelTarget{Name: string(rune('a' + i)), Weight: new(w)}
	}
	return out
}

func TestHomeWeights(t *testing.T) {
	unset := []breakwaterv1alpha1.ModelTarget{{Name: "a"}, {Name: "b"}}
	for name, tc := range map[string]struct {
		targets []breakwaterv1alpha1.ModelTarget
		want    map[string]int32
	}{
		"relative weights":      {targets(1, 3), map[string]int32{"a": 25, "b": 75}},
		"rounded to 100":        {targets(1, 1, 1), map[string]int32{"a": 34, "b": 33, "c": 33}},
		"unset weights are 100": {unset, map[string]int32{"a": 50, "b": 50}},
		"all zero":              {targets(0, 0), map[string]int32{"a": 0, "b": 0}},
		"none":                  {nil, map[string]int32{}},
	} {
		if diff := cmp.Diff(tc.want, HomeWeights(tc.targets)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

func TestCurrentWeights(t *testing.T) {
	spec := targets(1, 3)
	home := map[string]int32{"a": 25, "b": 75}
	for name, tc := range map[string]struct {
		status  []breakwaterv1alpha1.TargetWeight
		want    map[string]int32
		inForce bool
	}{
		"first evaluation":    {nil, home, false},
		"held":                {[]breakwaterv1alpha1.TargetWeight{{Target: "a", Weight: 0}, {Target: "b", Weight: 100}}, map[string]int32{"a": 0, "b": 100}, true},
		"targets changed":     {[]breakwaterv1alpha1.TargetWeight{{Target: "a", Weight: 0}, {Target: "x", Weight: 100}}, home, false},
		"not summing to 100":  {[]breakwaterv1alpha1.TargetWeight{{Target: "a", Weight: 10}, {Target: "b", Weight: 10}}, home, false},
		"all zero":            {[]breakwaterv1alpha1.TargetWeight{{Target: "a", Weight: 0}, {Target: "b", Weight: 0}}, home, false},
		"a target is missing": {[]breakwaterv1alpha1.TargetWeight{{Target: "a", Weight: 100}}, home, false},
		"negative":            {[]breakwaterv1alpha1.TargetWeight{{Target: "a", Weight: -10}, {Target: "b", Weight: 110}}, home, false},
	} {
		if diff := cmp.Diff(tc.want, CurrentWeights(tc.status, spec)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
		if _, ok := PolicyWeights(tc.status, spec); ok != tc.inForce {
			t.Errorf("%s: PolicyWeights in force %t, want %t", name, ok, tc.inForce)
		}
	}
}

func TestSteeringPolicy(t *testing.T) {
	ready := []metav1.Condition{{Type: breakwaterv1alpha1.ConditionReady, Status: metav1.ConditionTrue}}
	notReady := []metav1.Condition{{Type: breakwaterv1alpha1.ConditionReady, Status: metav1.ConditionFalse}}
	weights := []breakwaterv1alpha1.TargetWeight{{Target: "a", Weight: 100}}
	fp := func(name, endpoint string, conds []metav1.Condition, w []breakwaterv1alpha1.TargetWeight) breakwaterv1alpha1.FailoverPolicy {
		p := breakwaterv1alpha1.FailoverPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}}
		p.Spec.EndpointRef.Name, p.Status.Conditions, p.Status.Weights = endpoint, conds, w
		return p
	}
	for name, tc := range map[string]struct {
		policies []breakwaterv1alpha1.FailoverPolicy
		want     string
	}{
		"none":                    {nil, ""},
		"first Ready by name":     {[]breakwaterv1alpha1.FailoverPolicy{fp("b", "ep", ready, weights), fp("a", "ep", ready, weights)}, "a"},
		"not Ready is skipped":    {[]breakwaterv1alpha1.FailoverPolicy{fp("a", "ep", notReady, weights), fp("b", "ep", ready, weights)}, "b"},
		"no weights is skipped":   {[]breakwaterv1alpha1.FailoverPolicy{fp("a", "ep", ready, nil), fp("b", "ep", ready, weights)}, "b"},
		"another endpoint":        {[]breakwaterv1alpha1.FailoverPolicy{fp("a", "other", ready, weights)}, ""},
		"stale weights still win": {[]breakwaterv1alpha1.FailoverPolicy{fp("b", "ep", ready, weights), fp("a", "ep", ready, []breakwaterv1alpha1.TargetWeight{{Target: "x", Weight: 1}})}, "a"},
	} {
		got := ""
		if p := SteeringPolicy(tc.policies, "ep"); p != nil {
			got = p.Name
		}
		if got != tc.want {
			t.Errorf("%s: SteeringPolicy = %q, want %q", name, got, tc.want)
		}
	}
}

func TestMergeWeights(t *testing.T) {
	plan := []breakwaterv1alpha1.TargetWeight{{Target: "a", Weight: 50}, {Target: "b", Weight: 50}}
	for name, tc := range map[string]struct {
		current map[string]int32
		plan    []breakwaterv1alpha1.TargetWeight
		steered []string
		want    map[string]int32
	}{
		"some targets steered: the others keep theirs": {map[string]int32{"a": 60, "b": 0, "c": 40}, plan, []string{"a", "b"},
			map[string]int32{"a": 30, "b": 30, "c": 40}},
		"every target steered": {map[string]int32{"a": 100, "b": 0}, plan, []string{"a", "b"}, map[string]int32{"a": 50, "b": 50}},
		"rounded by largest remainder": {map[string]int32{"a": 0, "b": 0, "c": 67}, []breakwaterv1alpha1.TargetWeight{{Target: "a", Weight: 75}, {Target: "b", Weight: 25}},
			[]string{"a", "b"}, map[string]int32{"a": 25, "b": 8, "c": 67}},
		"a plan of zeros": {map[string]int32{"a": 100, "b": 0}, []breakwaterv1alpha1.TargetWeight{{Target: "a"}, {Target: "b"}}, []string{"a", "b"},
			map[string]int32{"a": 0, "b": 0}},
	} {
		if diff := cmp.Diff(tc.want, MergeWeights(tc.current, tc.plan, tc.steered)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

func TestHealthySince(t *testing.T) {
	created := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	shift := created.Add(time.Hour)
	away := &breakwaterv1alpha1.WeightShift{Time: metav1.NewTime(shift), Reason: breakwaterv1alpha1.ReasonThrottleRateHigh, From: "a", To: "b"}
	back := &breakwaterv1alpha1.WeightShift{Time: metav1.NewTime(shift), Reason: breakwaterv1alpha1.ReasonFailback, From: "b", To: "a"}
	for name, tc := range map[string]struct {
		last           *breakwaterv1alpha1.WeightShift
		stable, window time.Duration
		want           time.Time
	}{
		"without a shift: since creation":                  {nil, 5 * time.Minute, 2 * time.Minute, created},
		"after a shift away: one window after it":          {away, 5 * time.Minute, 2 * time.Minute, shift.Add(2 * time.Minute)},
		"after a failback onto it: a stable period before": {back, 5 * time.Minute, 2 * time.Minute, shift.Add(-5 * time.Minute)},
		"defaults":       {back, 0, 0, shift.Add(-DefaultStablePeriod)},
		"default window": {away, 0, 0, shift.Add(DefaultWindow)},
	} {
		if got := HealthySince(created, tc.last, "a", tc.stable, tc.window); !got.Equal(tc.want) {
			t.Errorf("%s: %s, want %s", name, got, tc.want)
		}
	}
}

func TestQuotaSeverity(t *testing.T) {
	for s, want := range map[breakwaterv1alpha1.QuotaState]int{
		"": 0, breakwaterv1alpha1.QuotaNormal: 0, breakwaterv1alpha1.QuotaWarning: 1,
		breakwaterv1alpha1.QuotaShedding: 2, breakwaterv1alpha1.QuotaExhausted: 3, "Unknown": 0,
	} {
		if got := QuotaSeverity(s); got != want {
			t.Errorf("QuotaSeverity(%q) = %d, want %d", s, got, want)
		}
	}
}

// TestQuotaStateLowerBound: a partial sum of usage escalates the quota but never relaxes it.
func TestQuotaStateLowerBound(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for name, tc := range map[string]struct {
		previous   breakwaterv1alpha1.QuotaState
		usage      QuotaUsage
		lowerBound *QuotaUsage
		wantState  breakwaterv1alpha1.QuotaState
		wantReason string
	}{
		"partly measured and already over: escalates": {"", QuotaUsage{TokensPerMinute: i64(10)},
			&QuotaUsage{TokensPerMinute: i64(10), TokensToday: i64(990_000)},
			breakwaterv1alpha1.QuotaShedding, breakwaterv1alpha1.ReasonShedThresholdReached},
		"partly measured and low: held": {breakwaterv1alpha1.QuotaWarning, QuotaUsage{TokensPerMinute: i64(10)},
			&QuotaUsage{TokensPerMinute: i64(10), TokensToday: i64(10)},
			breakwaterv1alpha1.QuotaWarning, breakwaterv1alpha1.ReasonMetricsUnavailable},
		"no lower bound: held": {breakwaterv1alpha1.QuotaShedding, QuotaUsage{TokensPerMinute: i64(10)}, nil,
			breakwaterv1alpha1.QuotaShedding, breakwaterv1alpha1.ReasonMetricsUnavailable},
		"lower than what was measured: ignored": {"", QuotaUsage{TokensPerMinute: i64(950), TokensToday: i64(10)},
			&QuotaUsage{TokensPerMinute: i64(10), TokensToday: i64(10)},
			breakwaterv1alpha1.QuotaShedding, breakwaterv1alpha1.ReasonShedThresholdReached},
	} {
		plan := QuotaState(QuotaInput{Now: now, Limits: QuotaLimits{TokensPerMinute: 1000, TokensPerDay: 1_000_000},
			Usage: tc.usage, UsageLowerBound: tc.lowerBound, Previous: tc.previous, PreviousSince: now.Add(-time.Hour)})
		if plan.State != tc.wantState || plan.Reason != tc.wantReason {
			t.Errorf("%s: %s/%s (%s), want %s/%s", name, plan.State, plan.Reason, plan.Message, tc.wantState, tc.wantReason)
		}
	}
}

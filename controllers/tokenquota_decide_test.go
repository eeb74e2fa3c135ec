package controllers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/policy"
	"github.com/breakwater-dev/breakwater/internal/promsource"
)

func i64(v int64) *int64 { return &v }

func usd(s string) *policy.NanoUSD {
	n, err := policy.ParseMoney(s)
	if err != nil {
		panic(err)
	}
	return &n
}

// TestDecideQuotaDailyBudgets: daily budgets move the state like tokens per minute, a projection
// over budget warns, an unmeasured budget holds, and a partly measured one may only escalate.
func TestDecideQuotaDailyBudgets(t *testing.T) {
	tpm, perDay, cost := int64(1000), int64(1_000_000), breakwaterv1alpha1.Money("250")
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) // half the UTC day left
	for name, tc := range map[string]struct {
		previous   breakwaterv1alpha1.QuotaState
		usage      measuredUsage
		wantState  breakwaterv1alpha1.QuotaState
		wantReason string
	}{
		"daily budgets measured low: steps down": {
			previous:  breakwaterv1alpha1.QuotaShedding,
			usage:     measuredUsage{usage: policy.QuotaUsage{TokensPerMinute: i64(10), TokensToday: i64(1000), CostToday: usd("1")}},
			wantState: breakwaterv1alpha1.QuotaNormal, wantReason: breakwaterv1alpha1.ReasonWithinLimits,
		},
		"tokens today past the shed threshold": {
			usage:     measuredUsage{usage: policy.QuotaUsage{TokensPerMinute: i64(10), TokensToday: i64(920_000), CostToday: usd("1")}},
			wantState: breakwaterv1alpha1.QuotaShedding, wantReason: breakwaterv1alpha1.ReasonShedThresholdReached,
		},
		"cost today at the hard limit": {
			usage:     measuredUsage{usage: policy.QuotaUsage{TokensPerMinute: i64(10), TokensToday: i64(1000), CostToday: usd("250")}},
			wantState: breakwaterv1alpha1.QuotaExhausted, wantReason: breakwaterv1alpha1.ReasonHardLimitReached,
		},
		"cost projected over the budget by 00:00 UTC": {
			// 100 spent, 0.25/min for the 720 minutes left: 280, 112% of 250.
			usage: measuredUsage{usage: policy.QuotaUsage{TokensPerMinute: i64(10), TokensToday: i64(1000),
				CostToday: usd("100"), CostPerMinute: usd("0.25")}},
			wantState: breakwaterv1alpha1.QuotaWarning, wantReason: breakwaterv1alpha1.ReasonProjectedOverBudget,
		},
		"cost today unmeasured: held": {
			previous:  breakwaterv1alpha1.QuotaShedding,
			usage:     measuredUsage{usage: policy.QuotaUsage{TokensPerMinute: i64(10), TokensToday: i64(1000)}},
			wantState: breakwaterv1alpha1.QuotaShedding, wantReason: breakwaterv1alpha1.ReasonMetricsUnavailable,
		},
		"tokens today partly measured and already over": {
			usage: measuredUsage{usage: policy.QuotaUsage{TokensPerMinute: i64(10), CostToday: usd("1")},
				lowerBound: &policy.QuotaUsage{TokensPerMinute: i64(10), TokensToday: i64(990_000), CostToday: usd("1")}},
			wantState: breakwaterv1alpha1.QuotaShedding, wantReason: breakwaterv1alpha1.ReasonShedThresholdReached,
		},
		"tokens today partly measured and low: never relaxes": {
			previous: breakwaterv1alpha1.QuotaWarning,
			usage: measuredUsage{usage: policy.QuotaUsage{TokensPerMinute: i64(10), CostToday: usd("1")},
				lowerBound: &policy.QuotaUsage{TokensPerMinute: i64(10), TokensToday: i64(10), CostToday: usd("1")}},
			wantState: breakwaterv1alpha1.QuotaWarning, wantReason: breakwaterv1alpha1.ReasonMetricsUnavailable,
		},
	} {
		t.Run(name, func(t *testing.T) {
			q := &breakwaterv1alpha1.TokenQuota{Spec: breakwaterv1alpha1.TokenQuotaSpec{
				Limits:     breakwaterv1alpha1.QuotaLimits{TokensPerMinute: &tpm, TokensPerDay: &perDay, CostPerDay: &cost},
				Thresholds: breakwaterv1alpha1.QuotaThresholds{WarnPercent: 80, ShedPercent: 90, HardPercent: 100},
			}}
			q.Status.State = tc.previous
			q.Status.LastTransitionTime = &metav1.Time{Time: now.Add(-time.Hour)}
			plan, err := decideQuota(q, resolvedLimit{tokensPerMinute: tpm}, tc.usage, 0, now, 0)
			if err != nil {
				t.Fatal(err)
			}
			if plan.State != tc.wantState || plan.Reason != tc.wantReason {
				t.Errorf("plan %s/%s (%s), want %s/%s", plan.State, plan.Reason, plan.Message, tc.wantState, tc.wantReason)
			}
		})
	}
}

// dailySource answers the quota queries from fixed maps per query name; errs fails a query.
type dailySource struct {
	figures map[string]map[string]float64 // query → endpoint → value
	errs    map[string]error
}

func (s dailySource) Query(_ context.Context, query promsource.Figure, sc promsource.Scope) (promsource.Result[promsource.Key], error) {
	if err := s.errs[query]; err != nil {
		return promsource.Result[promsource.Key]{}, err
	}
	out := promsource.Result[promsource.Key]{Values: map[promsource.Key]float64{}}
	for ep, v := range s.figures[query] {
		out.Values[promsource.Key{Namespace: sc.Namespace, Endpoint: ep}] = v
	}
	return out, nil
}

// TestMeasureUsageDaily: what is read for daily budgets, how an endpoint without a cost series
// counts, and when figures are partial or unavailable.
func TestMeasureUsageDaily(t *testing.T) {
	cost := breakwaterv1alpha1.Money("250")
	q := &breakwaterv1alpha1.TokenQuota{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "budget"},
		Spec: breakwaterv1alpha1.TokenQuotaSpec{
			Endpoints: []breakwaterv1alpha1.LocalObjectReference{{Name: "a"}, {Name: "b"}},
			Limits:    breakwaterv1alpha1.QuotaLimits{TokensPerDay: i64(1_000_000), CostPerDay: &cost},
		}}
	both := func(a, b float64) map[string]float64 { return map[string]float64{"a": a, "b": b} }
	for name, tc := range map[string]struct {
		src        dailySource
		want       policy.QuotaUsage
		wantLower  *policy.QuotaUsage
		wantStatus metav1.ConditionStatus
		wantMsg    string
	}{
		"everything measured": {
			src: dailySource{figures: map[string]map[string]float64{
				promsource.QueryTokensPerMinute: both(100, 50), promsource.QueryTokensToday: both(1000, 500),
				promsource.QueryCostToday: both(1.5, 0.25), promsource.QueryCostPerMinute: both(0.01, 0.002)}},
			want:       policy.QuotaUsage{TokensPerMinute: i64(150), TokensToday: i64(1500), CostToday: usd("1.75"), CostPerMinute: usd("0.012")},
			wantStatus: metav1.ConditionTrue,
			wantMsg:    "Measured 150 tokens/min over 2 ModelEndpoints; 1500 tokens and 1.75 USD since 00:00 UTC",
		},
		"an endpoint without prices has no cost series: zero cost": {
			src: dailySource{figures: map[string]map[string]float64{
				promsource.QueryTokensPerMinute: both(100, 50), promsource.QueryTokensToday: both(1000, 500),
				promsource.QueryCostToday: {"a": 2}, promsource.QueryCostPerMinute: {"a": 0.01}}},
			want:       policy.QuotaUsage{TokensPerMinute: i64(150), TokensToday: i64(1500), CostToday: usd("2"), CostPerMinute: usd("0.01")},
			wantStatus: metav1.ConditionTrue,
		},
		"an endpoint with no data today: partial, a lower bound": {
			src: dailySource{figures: map[string]map[string]float64{
				promsource.QueryTokensPerMinute: both(100, 50), promsource.QueryTokensToday: {"a": 1000},
				promsource.QueryCostToday: {"a": 2}}},
			want:       policy.QuotaUsage{TokensPerMinute: i64(150)},
			wantLower:  &policy.QuotaUsage{TokensPerMinute: i64(150), TokensToday: i64(1000), CostToday: usd("2")},
			wantStatus: metav1.ConditionFalse,
			wantMsg:    `The metric source has no token usage of ModelEndpoint "b"; the quota state is held (it only escalates on what was measured)`,
		},
		"cost query fails": {
			src: dailySource{figures: map[string]map[string]float64{
				promsource.QueryTokensPerMinute: both(100, 50), promsource.QueryTokensToday: both(1000, 500)},
				errs: map[string]error{promsource.QueryCostToday: errors.New("503")}},
			wantStatus: metav1.ConditionFalse,
			wantMsg:    "Reading cost since 00:00 UTC failed (503); the quota state is held",
		},
		"cost rate fails: the projection counts what was spent only": {
			src: dailySource{figures: map[string]map[string]float64{
				promsource.QueryTokensPerMinute: both(100, 50), promsource.QueryTokensToday: both(1000, 500),
				promsource.QueryCostToday: both(1, 1)},
				errs: map[string]error{promsource.QueryCostPerMinute: errors.New("503")}},
			want:       policy.QuotaUsage{TokensPerMinute: i64(150), TokensToday: i64(1500), CostToday: usd("2")},
			wantStatus: metav1.ConditionTrue,
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := &TokenQuotaReconciler{sources: Sources{Metrics: tc.src}}
			got := r.measureUsage(context.Background(), q)
			if diff := cmp.Diff(tc.want, got.usage); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantLower, got.lowerBound); diff != "" {
				t.Errorf("lower bound (-want +got):\n%s", diff)
			}
			if got.condition.Status != tc.wantStatus || !strings.HasPrefix(got.condition.Message, tc.wantMsg) {
				t.Errorf("condition %s %q, want %s %q", got.condition.Status, got.condition.Message, tc.wantStatus, tc.wantMsg)
			}
			if got.complete != (tc.wantStatus == metav1.ConditionTrue) {
				t.Errorf("complete = %t", got.complete)
			}
		})
	}
}

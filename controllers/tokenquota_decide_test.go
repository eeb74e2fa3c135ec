package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/policy"
)

// A quota with a daily budget, whose daily usage this version does not measure, must still step
// down once tokens per minute fall: otherwise the unmeasured budget would hold Shedding forever.
func TestDailyBudgetDoesNotHoldAQuotaForever(t *testing.T) {
	tpm, cost := int64(1000), breakwaterv1alpha1.Money("250")
	q := &breakwaterv1alpha1.TokenQuota{
		Spec: breakwaterv1alpha1.TokenQuotaSpec{
			Limits:     breakwaterv1alpha1.QuotaLimits{TokensPerMinute: &tpm, CostPerDay: &cost},
			Thresholds: breakwaterv1alpha1.QuotaThresholds{WarnPercent: 80, ShedPercent: 90, HardPercent: 100},
		},
	}
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	q.Status.State = breakwaterv1alpha1.QuotaShedding
	q.Status.LastTransitionTime = &metav1.Time{Time: now.Add(-time.Hour)}
	low := int64(10)
	plan, err := decideQuota(q, resolvedLimit{tokensPerMinute: tpm}, measuredUsage{usage: policy.QuotaUsage{TokensPerMinute: &low}}, 0, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	if plan.State != breakwaterv1alpha1.QuotaNormal {
		t.Errorf("state = %s (%s: %s), want Normal", plan.State, plan.Reason, plan.Message)
	}
}

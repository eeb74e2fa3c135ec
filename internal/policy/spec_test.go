package policy

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

func TestFailoverSettings(t *testing.T) {
	spec := breakwaterv1alpha1.FailoverPolicySpec{
		Triggers: breakwaterv1alpha1.FailoverTriggers{
			ThrottleRatePercent: new(int32(5)), P99Latency: &metav1.Duration{Duration: 8 * time.Second},
			Window: metav1.Duration{Duration: time.Minute}, MinRequests: 50,
		},
		Shift:                   breakwaterv1alpha1.ShiftPolicy{StepPercent: 100, Cooldown: metav1.Duration{Duration: 30 * time.Second}},
		Failback:                breakwaterv1alpha1.FailbackPolicy{Enabled: new(false), StepPercent: 10},
		RequireValidatedTargets: new(false),
		Mode:                    breakwaterv1alpha1.ModeShadow,
	}
	want := FailoverInput{
		Triggers:    Triggers{ThrottleRatePercent: 5, P99Latency: 8 * time.Second, MinRequests: 50, Window: time.Minute},
		StepPercent: 100, Cooldown: 30 * time.Second,
		FailbackDisabled: true, FailbackStepPercent: 10, AllowUnvalidated: true, Shadow: true,
	}
	if diff := cmp.Diff(want, FailoverSettings(spec)); diff != "" {
		t.Errorf("FailoverSettings (-want +got):\n%s", diff)
	}
	if got := FailoverSettings(breakwaterv1alpha1.FailoverPolicySpec{}); got.FailbackDisabled || got.AllowUnvalidated || got.Shadow {
		t.Errorf("absent fields must keep the API defaults (failback on, validated targets, enforce): %+v", got)
	}
}

func TestQuotaSettings(t *testing.T) {
	cost := breakwaterv1alpha1.Money("250.75")
	got, err := QuotaSettings(breakwaterv1alpha1.TokenQuotaSpec{
		Limits:     breakwaterv1alpha1.QuotaLimits{TokensPerDay: new(int64(1_000_000)), CostPerDay: &cost},
		Thresholds: breakwaterv1alpha1.QuotaThresholds{WarnPercent: 70, ShedPercent: 85, HardPercent: 95},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := QuotaInput{
		Limits:      QuotaLimits{TokensPerDay: 1_000_000, CostPerDay: 250_750_000_000},
		WarnPercent: 70, ShedPercent: 85, HardPercent: 95,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("QuotaSettings (-want +got):\n%s", diff)
	}
	bad := breakwaterv1alpha1.Money("1e3")
	if _, err := QuotaSettings(breakwaterv1alpha1.TokenQuotaSpec{Limits: breakwaterv1alpha1.QuotaLimits{CostPerDay: &bad}}); err == nil {
		t.Error("QuotaSettings accepted costPerDay 1e3")
	}
}

func TestScaleWorkload(t *testing.T) {
	w := &breakwaterv1alpha1.GenAIWorkload{
		ObjectMeta: metav1.ObjectMeta{Name: "chat"},
		Spec:       breakwaterv1alpha1.GenAIWorkloadSpec{Criticality: breakwaterv1alpha1.CriticalitySheddable, Shedding: breakwaterv1alpha1.SheddingPolicy{MinReplicas: new(int32(1))}},
		Status:     breakwaterv1alpha1.GenAIWorkloadStatus{RememberedReplicas: new(int32(4))},
	}
	want := WorkloadInput{Name: "chat", Criticality: sheddable, MinReplicas: 1, Remembered: new(int32(4))}
	if diff := cmp.Diff(want, ScaleWorkload(w)); diff != "" {
		t.Errorf("ScaleWorkload (-want +got):\n%s", diff)
	}
}

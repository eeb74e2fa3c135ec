package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

func TestQuotaConditionsWaitForServiceQuotas(t *testing.T) {
	q := &breakwaterv1alpha1.TokenQuota{}
	q.Spec.ServiceQuota = &breakwaterv1alpha1.ServiceQuotaSource{ServiceCode: "bedrock", QuotaCode: "L-FF1DB5E1", Region: "us-east-1"}
	got := quotaConditions(q, nil)
	for _, c := range got {
		if c.Status != metav1.ConditionFalse || c.Reason != breakwaterv1alpha1.ReasonServiceQuotaPending {
			t.Errorf("%s = %s/%s, want False/ServiceQuotaPending", c.Type, c.Status, c.Reason)
		}
	}
}

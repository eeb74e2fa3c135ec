package controllers

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

func TestLargest(t *testing.T) {
	for _, tt := range []struct {
		in   []int32
		want int
	}{{nil, -1}, {[]int32{0, 0}, 0}, {[]int32{10, 90}, 1}, {[]int32{50, 50}, 0}} {
		if got := largest(tt.in); got != tt.want {
			t.Errorf("largest(%v) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestWorkloadConditions(t *testing.T) {
	w := &breakwaterv1alpha1.GenAIWorkload{ObjectMeta: metav1.ObjectMeta{Name: "chat", Namespace: "team"}}
	tests := []struct {
		name         string
		refs         workloadRefs
		renderErr    error
		wantReady    metav1.Condition
		wantRendered metav1.ConditionStatus
	}{{
		name: "all resolved",
		refs: workloadRefs{serviceAccounts: []string{"chat"}},
		wantReady: metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Reconciled",
			Message: "Every reference resolved; ServiceAccount chat may read ConfigMap chat-guard"},
		wantRendered: metav1.ConditionTrue,
	}, {
		name: "every problem named, the first one's reason",
		refs: workloadRefs{missingEndpoints: []string{"b", "a"}, missingBackends: []string{"docs"}, missingWorkload: "Deployment chat"},
		wantReady: metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "EndpointNotFound",
			Message: `ModelEndpoint "a", "b" not found in namespace team: create it or remove it from spec.modelEndpoints; ` +
				`RetrievalBackend "docs" not found in namespace team: create it or remove it from spec.retrievalBackends; ` +
				`Deployment chat not found in namespace team: the guard's RBAC waits for it to name the pods' ServiceAccount`},
		wantRendered: metav1.ConditionTrue,
	}, {
		name:      "a config the guard would refuse",
		refs:      workloadRefs{serviceAccounts: []string{"default"}},
		renderErr: errors.New("endpoints[0].targets[0].url: must not have a query or fragment"),
		wantReady: metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "ConfigInvalid",
			Message: "endpoints[0].targets[0].url: must not have a query or fragment"},
		wantRendered: metav1.ConditionFalse,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := workloadConditions(w, tt.refs, tt.renderErr)
			if diff := cmp.Diff(tt.wantReady, got[0]); diff != "" {
				t.Errorf("Ready (-want +got):\n%s", diff)
			}
			if got[1].Type != breakwaterv1alpha1.ConditionConfigRendered || got[1].Status != tt.wantRendered {
				t.Errorf("ConfigRendered = %+v, want status %s", got[1], tt.wantRendered)
			}
		})
	}
}

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

func TestPlanPolicy(t *testing.T) {
	me := &breakwaterv1alpha1.ModelEndpoint{ObjectMeta: metav1.ObjectMeta{Name: "claude"}}
	me.Spec.Targets = []breakwaterv1alpha1.ModelTarget{{Name: "use1", Weight: ptr.To[int32](80)}, {Name: "usw2", Weight: ptr.To[int32](40)}}
	p := &breakwaterv1alpha1.FailoverPolicy{}
	p.Spec.EndpointRef.Name, p.Spec.Targets = "claude", []string{"use1", "euw1"}
	plan := planPolicy(p, me)
	want := []breakwaterv1alpha1.TargetWeight{{Target: "use1", Weight: 67}, {Target: "usw2", Weight: 33}}
	if diff := cmp.Diff(want, plan.weights); diff != "" || plan.activeTarget != "use1" {
		t.Errorf("weights (-want +got):\n%s\nactiveTarget %q", diff, plan.activeTarget)
	}
	if c := plan.conditions[0]; c.Reason != breakwaterv1alpha1.ReasonTargetNotFound ||
		c.Message != `ModelEndpoint "claude" has no target "euw1"; its targets are "use1", "usw2": fix spec.targets` {
		t.Errorf("Ready = %+v", c)
	}
	if c := planPolicy(p, nil).conditions[0]; c.Reason != breakwaterv1alpha1.ReasonEndpointNotFound {
		t.Errorf("Ready without endpoint = %+v", c)
	}
}

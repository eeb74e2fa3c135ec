package controllers

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

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

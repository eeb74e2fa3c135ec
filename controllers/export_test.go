package controllers

import (
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// NewFailoverPolicyReconcilerForTest builds the reconciler the way Setup does, with the tests'
// client, recorder and sources, so that a test can drive the control loop step by step.
func NewFailoverPolicyReconcilerForTest(c client.Client, recorder events.EventRecorder, src Sources) *FailoverPolicyReconciler {
	return &FailoverPolicyReconciler{Client: c, status: statusWriter{client: c, recorder: recorder}, sources: src}
}

// NewModelEndpointReconcilerForTest is NewFailoverPolicyReconcilerForTest for ModelEndpoints.
func NewModelEndpointReconcilerForTest(c client.Client, recorder events.EventRecorder, src Sources) *ModelEndpointReconciler {
	return &ModelEndpointReconciler{Client: c, status: statusWriter{client: c, recorder: recorder}, sources: src}
}

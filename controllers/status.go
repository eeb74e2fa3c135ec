package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

// FieldOwner is the field manager of everything the manager writes, so that
// `kubectl get -o yaml --show-managed-fields` tells its fields from the user's and GitOps tools'.
const FieldOwner = "breakwater-manager"

// problemWhenTrue lists the condition types whose True status is bad news; an Event about them
// turning True is a Warning.
var problemWhenTrue = map[string]bool{
	breakwaterv1alpha1.ConditionDegraded:   true,
	breakwaterv1alpha1.ConditionShed:       true,
	breakwaterv1alpha1.ConditionFailedOver: true,
}

// setConditions sets each condition with the object's generation. apimeta.SetStatusCondition keeps
// lastTransitionTime when the status does not change, so transition times stay meaningful.
func setConditions(conds *[]metav1.Condition, generation int64, set ...metav1.Condition) {
	for _, c := range set {
		c.ObservedGeneration = generation
		apimeta.SetStatusCondition(conds, c)
	}
}

// statusWriter patches status and reports every condition whose status changed as an Event.
type statusWriter struct {
	client   client.Client
	recorder events.EventRecorder
}

// write patches obj's status against before (a copy taken before the reconcile changed it) and
// then records one Event per condition whose status changed. Events come after the patch so that
// they never tell of a state that was not stored.
func (s statusWriter) write(ctx context.Context, before, obj client.Object, oldConds, newConds []metav1.Condition) error {
	data, err := client.MergeFrom(before).Data(obj)
	if err != nil {
		return fmt.Errorf("computing the status patch of %s: %w", client.ObjectKeyFromObject(obj), err)
	}
	if string(data) == "{}" {
		return nil // nothing changed, nothing to tell
	}
	// Guarded by the resourceVersion the reconcile read: a reconcile working from a cache that has
	// not seen the previous status write gets a conflict and runs again on fresh data, instead of
	// writing (and announcing) a condition change the server already has.
	patch := client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})
	if err := s.client.Status().Patch(ctx, obj, patch, client.FieldOwner(FieldOwner)); err != nil {
		return fmt.Errorf("patching the status of %s: %w", client.ObjectKeyFromObject(obj), err)
	}
	for _, c := range newConds {
		old := apimeta.FindStatusCondition(oldConds, c.Type)
		if old != nil && old.Status == c.Status {
			continue
		}
		eventType := corev1.EventTypeNormal
		if (c.Status == metav1.ConditionTrue) == problemWhenTrue[c.Type] {
			eventType = corev1.EventTypeWarning
		}
		s.recorder.Eventf(obj, nil, eventType, c.Reason, c.Type+string(c.Status), "%s is %s: %s", c.Type, c.Status, c.Message)
	}
	return nil
}

func readyTrue(message string) metav1.Condition {
	return metav1.Condition{Type: breakwaterv1alpha1.ConditionReady, Status: metav1.ConditionTrue,
		Reason: breakwaterv1alpha1.ReasonReconciled, Message: message}
}

func readyFalse(reason, message string) metav1.Condition {
	return metav1.Condition{Type: breakwaterv1alpha1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: reason, Message: message}
}

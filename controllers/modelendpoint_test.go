package controllers_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bw "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

// TestModelEndpointStatus checks the per-target status, the active target and the conditions of
// an endpoint, and that a spec change is reported under its generation.
func TestModelEndpointStatus(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "endpoint")
	ctx := context.Background()
	me := &bw.ModelEndpoint{}
	sample(t, "breakwater_v1alpha1_modelendpoint.yaml", ns, me)
	if err := c.Create(ctx, me); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the endpoint to be Ready", func(ctx context.Context) (bool, error) {
		return conditionIs(ctx, me, func() []metav1.Condition { return me.Status.Conditions }, bw.ConditionReady, metav1.ConditionTrue, bw.ReasonReconciled)
	})
	want := []bw.TargetStatus{{Name: "us-east-1", Weight: 100, Available: true}, {Name: "us-west-2", Weight: 0, Available: true}}
	if diff := cmp.Diff(want, me.Status.Targets); diff != "" {
		t.Errorf("status.targets (-want +got):\n%s", diff)
	}
	if me.Status.ActiveTarget != "us-east-1" || me.Status.ObservedGeneration != me.Generation {
		t.Errorf("activeTarget %q, observedGeneration %d (generation %d)", me.Status.ActiveTarget, me.Status.ObservedGeneration, me.Generation)
	}
	if !apimeta.IsStatusConditionFalse(me.Status.Conditions, bw.ConditionDegraded) {
		t.Errorf("Degraded is not False: %+v", me.Status.Conditions)
	}

	// Relative weights 1:3 are shown as the percentages the guards send.
	me.Spec.Targets[0].Weight, me.Spec.Targets[1].Weight = ptr[int32](1), ptr[int32](3)
	if err := c.Update(ctx, me); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new weights", func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(me), me); err != nil {
			return false, err
		}
		return me.Status.ObservedGeneration == me.Generation, nil
	})
	want = []bw.TargetStatus{{Name: "us-east-1", Weight: 25, Available: true}, {Name: "us-west-2", Weight: 75, Available: true}}
	if diff := cmp.Diff(want, me.Status.Targets); diff != "" {
		t.Errorf("status.targets (-want +got):\n%s", diff)
	}
	if me.Status.ActiveTarget != "us-west-2" {
		t.Errorf("activeTarget %q, want us-west-2", me.Status.ActiveTarget)
	}
	if got := apimeta.FindStatusCondition(me.Status.Conditions, bw.ConditionReady); got.ObservedGeneration != me.Generation {
		t.Errorf("Ready observedGeneration %d, want %d", got.ObservedGeneration, me.Generation)
	}
}

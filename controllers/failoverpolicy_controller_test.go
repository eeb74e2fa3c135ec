package controllers

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

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

package controllers_test

import (
	"context"
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bw "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/internal/render"
)

// TestTwoPoliciesOnOneEndpoint: with two FailoverPolicies steering one endpoint, the endpoint's
// status shows the weights its guards are given, also while the first policy's weights are stale
// (they no longer name every target). The second policy's weights are in force for neither.
func TestTwoPoliciesOnOneEndpoint(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "two-policies")
	w, _ := configCases[0].apply(t, ns) // claude-haiku (spec weights 100/0) steered by claude-regions
	first := &bw.FailoverPolicy{}
	sample(t, "breakwater_v1alpha1_failoverpolicy.yaml", ns, first)
	first.Name = "a-claude-first" // before claude-regions by name
	if err := c.Create(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	second := &bw.FailoverPolicy{}
	for _, p := range []*bw.FailoverPolicy{first, second} {
		name := first.Name
		if p == second {
			name = "claude-regions"
		}
		eventually(t, name+" to be Ready with weights", func(ctx context.Context) (bool, error) {
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, p); err != nil {
				return false, err
			}
			return apimeta.IsStatusConditionTrue(p.Status.Conditions, bw.ConditionReady) && len(p.Status.Weights) == 2, nil
		})
	}
	// The loops run without a metric source, so they hold whatever valid weights status has.
	setWeights := func(p *bw.FailoverPolicy, weights ...bw.TargetWeight) {
		t.Helper()
		before := p.DeepCopy()
		p.Status.Weights = weights
		if err := c.Status().Patch(context.Background(), p, client.MergeFrom(before)); err != nil {
			t.Fatal(err)
		}
	}
	setWeights(second, bw.TargetWeight{Target: "us-east-1", Weight: 50}, bw.TargetWeight{Target: "us-west-2", Weight: 50})
	setWeights(first, bw.TargetWeight{Target: "us-east-1", Weight: 0}, bw.TargetWeight{Target: "us-west-2", Weight: 100})
	agree(t, ns, w, map[string]int32{"us-east-1": 0, "us-west-2": 100}, nil)

	// Stale: the first policy still steers (first Ready by name), its weights are not in force, so
	// the guards use the spec weights, and the endpoint shows them, not the second policy's.
	setWeights(first, bw.TargetWeight{Target: "us-east-1", Weight: 100})
	agree(t, ns, w, map[string]int32{"us-east-1": 100, "us-west-2": 0}, func(ctx context.Context) (bool, error) {
		// The first policy's loop rewrites its weights at its next evaluation; the endpoint must
		// agree with the guards before that.
		if err := c.Get(ctx, client.ObjectKeyFromObject(first), first); err != nil {
			return false, err
		}
		if len(first.Status.Weights) != 1 {
			t.Fatalf("the first policy's stale weights were rewritten before the endpoint showed the guards' weights: %v", first.Status.Weights)
		}
		return true, nil
	})
}

// agree waits until the endpoint claude-haiku's status.targets and the workload's guard config
// both show want (the guard's weights as percentages), and also holds.
func agree(t *testing.T, ns string, w *bw.GenAIWorkload, want map[string]int32, also func(context.Context) (bool, error)) {
	t.Helper()
	eventually(t, "the endpoint's status and the guard config to show the same weights", func(ctx context.Context) (bool, error) {
		me := &bw.ModelEndpoint{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "claude-haiku"}, me); err != nil {
			return false, err
		}
		for _, ts := range me.Status.Targets {
			if ts.Weight != want[ts.Name] {
				return false, nil
			}
		}
		cm := &corev1.ConfigMap{}
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: render.ConfigMapName(w.Name)}, cm)
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		cfg := &guardconfig.Config{}
		if err := json.Unmarshal([]byte(cm.Data[guardconfig.ConfigMapKey]), cfg); err != nil {
			return false, err
		}
		if len(cfg.Endpoints) != 1 {
			return false, nil
		}
		var sum int
		for _, gt := range cfg.Endpoints[0].Targets {
			sum += gt.Weight
		}
		for _, gt := range cfg.Endpoints[0].Targets {
			if sum == 0 || gt.Weight*100/sum != int(want[gt.Name]) {
				return false, nil
			}
		}
		if also != nil {
			return also(ctx)
		}
		return true, nil
	})
}

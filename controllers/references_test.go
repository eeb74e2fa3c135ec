package controllers_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bw "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

// TestQuotaAndPolicyReferences applies a TokenQuota and FailoverPolicies before their endpoint, and
// checks the conditions before and after it appears, including a policy naming a target the
// endpoint does not have.
func TestQuotaAndPolicyReferences(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "refs")
	ctx := context.Background()
	q, p, bad := &bw.TokenQuota{}, &bw.FailoverPolicy{}, &bw.FailoverPolicy{}
	sample(t, "breakwater_v1alpha1_tokenquota.yaml", ns, q)
	sample(t, "breakwater_v1alpha1_failoverpolicy.yaml", ns, p)
	sample(t, "breakwater_v1alpha1_failoverpolicy.yaml", ns, bad)
	bad.Name, bad.Spec.Targets = "to-europe", []string{"us-east-1", "eu-west-1"}
	for _, o := range []client.Object{q, p, bad} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	quotaConds := func() []metav1.Condition { return q.Status.Conditions }
	policyConds := func() []metav1.Condition { return p.Status.Conditions }
	badConds := func() []metav1.Condition { return bad.Status.Conditions }
	eventually(t, "the quota to miss its endpoint", func(ctx context.Context) (bool, error) {
		return conditionIs(ctx, q, quotaConds, bw.ConditionReady, metav1.ConditionFalse, bw.ReasonEndpointNotFound)
	})
	eventually(t, "the policy to miss its endpoint", func(ctx context.Context) (bool, error) {
		return conditionIs(ctx, p, policyConds, bw.ConditionReady, metav1.ConditionFalse, bw.ReasonEndpointNotFound)
	})
	if msg := apimeta.FindStatusCondition(q.Status.Conditions, bw.ConditionReady).Message; !strings.Contains(msg, `"claude-haiku"`) {
		t.Errorf("quota Ready message %q does not name the endpoint", msg)
	}

	me := &bw.ModelEndpoint{}
	sample(t, "breakwater_v1alpha1_modelendpoint.yaml", ns, me)
	if err := c.Create(ctx, me); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the quota to be Ready", func(ctx context.Context) (bool, error) {
		return conditionIs(ctx, q, quotaConds, bw.ConditionReady, metav1.ConditionTrue, bw.ReasonReconciled)
	})
	if !apimeta.IsStatusConditionTrue(q.Status.Conditions, bw.ConditionLimitResolved) || q.Status.State != bw.QuotaNormal ||
		q.Status.EffectiveTokensPerMinute == nil || *q.Status.EffectiveTokensPerMinute != 400000 {
		t.Errorf("quota status %+v: want LimitResolved, state Normal, 400000 tokens/min", q.Status)
	}
	eventually(t, "the policy to be Ready", func(ctx context.Context) (bool, error) {
		return conditionIs(ctx, p, policyConds, bw.ConditionReady, metav1.ConditionTrue, bw.ReasonReconciled)
	})
	wantWeights := []bw.TargetWeight{{Target: "us-east-1", Weight: 100}, {Target: "us-west-2", Weight: 0}}
	if diff := cmp.Diff(wantWeights, p.Status.Weights); diff != "" || p.Status.ActiveTarget != "us-east-1" {
		t.Errorf("policy weights (-want +got):\n%s\nactiveTarget %q", diff, p.Status.ActiveTarget)
	}
	eventually(t, "the policy naming an unknown target to say so", func(ctx context.Context) (bool, error) {
		return conditionIs(ctx, bad, badConds, bw.ConditionReady, metav1.ConditionFalse, bw.ReasonTargetNotFound)
	})
	if msg := apimeta.FindStatusCondition(bad.Status.Conditions, bw.ConditionReady).Message; !strings.Contains(msg, `no target "eu-west-1"`) {
		t.Errorf("TargetNotFound message %q does not name the target", msg)
	}
}

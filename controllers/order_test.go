package controllers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bw "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/internal/render"
)

// sampleSet is one full set of config/samples objects, in a fixed order that permutations index.
var sampleSet = []struct {
	file string
	obj  func() client.Object
}{
	{"breakwater_v1alpha1_modelendpoint.yaml", func() client.Object { return &bw.ModelEndpoint{} }},
	{"breakwater_v1alpha1_retrievalbackend.yaml", func() client.Object { return &bw.RetrievalBackend{} }},
	{"breakwater_v1alpha1_genaiworkload.yaml", func() client.Object { return &bw.GenAIWorkload{} }},
	{"breakwater_v1alpha1_tokenquota.yaml", func() client.Object { return &bw.TokenQuota{} }},
	{"breakwater_v1alpha1_failoverpolicy.yaml", func() client.Object { return &bw.FailoverPolicy{} }},
}

func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// TestApplyOrderIndependence applies the sample set in every order (each in its own namespace,
// waiting for each object to be reconciled before applying the next, so every intermediate state
// is seen) and checks that all orders converge to the same status.
func TestApplyOrderIndependence(t *testing.T) {
	t.Parallel()
	templates := make([]client.Object, len(sampleSet))
	for i, s := range sampleSet {
		templates[i] = s.obj()
		sample(t, s.file, "", templates[i])
	}
	perms := permutations(len(sampleSet))
	if len(perms) != 120 {
		t.Fatalf("%d permutations, want 120", len(perms))
	}
	namespaces := make([]string, len(perms))
	for i := range perms {
		namespaces[i] = namespace(t, "order")
		deployment(t, namespaces[i], "support-assistant", "assistant")
	}
	snapshots := make([]string, len(perms))
	errs := make([]error, len(perms))
	// Bounded so that polling stays light on a two-core machine.
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i, perm := range perms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			snapshots[i], errs[i] = applyInOrder(namespaces[i], perm, templates)
		}()
	}
	wg.Wait()
	for i, perm := range perms {
		if errs[i] != nil {
			t.Errorf("order %v: %v", perm, errs[i])
			continue
		}
		if diff := cmp.Diff(snapshots[0], snapshots[i]); diff != "" {
			t.Errorf("order %v converged to another status than order %v (-first +this):\n%s", perm, perms[0], diff)
		}
	}
}

func applyInOrder(ns string, perm []int, templates []client.Object) (string, error) {
	ctx := context.Background()
	for _, i := range perm {
		obj := templates[i].DeepCopyObject().(client.Object)
		obj.SetNamespace(ns)
		if err := c.Create(ctx, obj); err != nil {
			return "", fmt.Errorf("creating %T: %w", obj, err)
		}
		err := slowPoll(func(ctx context.Context) (bool, error) {
			if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
				return false, err
			}
			return observedGeneration(obj) == obj.GetGeneration(), nil
		})
		if err != nil {
			return "", fmt.Errorf("waiting for %T to be reconciled: %w", obj, err)
		}
	}
	var snap string
	var last error
	err := slowPoll(func(ctx context.Context) (bool, error) {
		snap, last = converged(ctx, ns)
		return last == nil, nil
	})
	if err != nil {
		return "", fmt.Errorf("never converged: %w", errors.Join(err, last))
	}
	return snap, nil
}

func slowPoll(cond func(ctx context.Context) (bool, error)) error {
	return wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 60*time.Second, true, cond)
}

func observedGeneration(obj client.Object) int64 {
	switch o := obj.(type) {
	case *bw.ModelEndpoint:
		return o.Status.ObservedGeneration
	case *bw.RetrievalBackend:
		return o.Status.ObservedGeneration
	case *bw.GenAIWorkload:
		return o.Status.ObservedGeneration
	case *bw.TokenQuota:
		return o.Status.ObservedGeneration
	case *bw.FailoverPolicy:
		return o.Status.ObservedGeneration
	}
	return -1
}

// orderSnapshot is the status of a namespace's sample set with what is namespace-specific or
// time-dependent (namespace names, hashes, timestamps) left out.
type orderSnapshot struct {
	Conditions                   map[string][]metav1.Condition
	Targets                      []bw.TargetStatus
	EndpointActive, PolicyActive string
	Weights                      []bw.TargetWeight
	QuotaState                   bw.QuotaState
	QuotaTPM                     *int64
	WorkloadState                bw.WorkloadState
	ConfigMapName                string
	Subjects                     []rbacv1.Subject
	Config                       string
}

// converged returns the namespace's snapshot once everything is Ready and the workload's
// ConfigMap holds the expected guard config, or says what is still missing.
func converged(ctx context.Context, ns string) (string, error) {
	me, rb, w, q, p := &bw.ModelEndpoint{}, &bw.RetrievalBackend{}, &bw.GenAIWorkload{}, &bw.TokenQuota{}, &bw.FailoverPolicy{}
	objs := map[string]client.Object{"claude-haiku": me, "docs-search": rb, "support-assistant": w, "claude-budget": q, "claude-regions": p}
	for name, o := range objs {
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, o); err != nil {
			return "", err
		}
	}
	s := orderSnapshot{Conditions: map[string][]metav1.Condition{}}
	for kind, conds := range map[string][]metav1.Condition{"ModelEndpoint": me.Status.Conditions, "RetrievalBackend": rb.Status.Conditions,
		"GenAIWorkload": w.Status.Conditions, "TokenQuota": q.Status.Conditions, "FailoverPolicy": p.Status.Conditions} {
		if !apimeta.IsStatusConditionTrue(conds, bw.ConditionReady) {
			return "", fmt.Errorf("%s is not Ready: %+v", kind, conds)
		}
		var kept []metav1.Condition
		for _, c := range conds {
			c.LastTransitionTime = metav1.Time{}
			kept = append(kept, c)
		}
		s.Conditions[kind] = kept
	}
	cm := &corev1.ConfigMap{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: w.Status.ConfigMapName}, cm); err != nil {
		return "", err
	}
	data := cm.Data[guardconfig.ConfigMapKey]
	if render.Hash([]byte(data)) != w.Status.ConfigHash {
		return "", errors.New("the ConfigMap does not hold the hash in the workload's status")
	}
	got := &guardconfig.Config{}
	if err := json.Unmarshal([]byte(data), got); err != nil {
		return "", err
	}
	if diff := cmp.Diff(configCases[0].want(ns), got); diff != "" {
		return "", fmt.Errorf("guard config (-want +got):\n%s", diff)
	}
	binding := &rbacv1.RoleBinding{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: w.Status.ConfigMapName}, binding); err != nil {
		return "", err
	}
	for _, sub := range binding.Subjects {
		sub.Namespace = strings.ReplaceAll(sub.Namespace, ns, "NS")
		s.Subjects = append(s.Subjects, sub)
	}
	s.Targets, s.EndpointActive = me.Status.Targets, me.Status.ActiveTarget
	s.Weights, s.PolicyActive = p.Status.Weights, p.Status.ActiveTarget
	s.QuotaState, s.QuotaTPM = q.Status.State, q.Status.EffectiveTokensPerMinute
	s.WorkloadState, s.ConfigMapName = w.Status.State, w.Status.ConfigMapName
	s.Config = strings.ReplaceAll(data, `"namespace":"`+ns+`"`, `"namespace":"NS"`)
	out, err := json.MarshalIndent(s, "", "  ")
	return string(out), err
}

package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bw "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/controllers"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/internal/render"
	"github.com/breakwater-dev/breakwater/internal/sidecar"
)

func d(v time.Duration) guardconfig.Duration { return guardconfig.Duration(v) }
func ptr[T any](v T) *T                      { return &v }

// The retry policy and circuit breaker the API server defaults an empty spec to, as rendered.
func defaultRetry() guardconfig.Retry {
	return guardconfig.Retry{MaxAttempts: 3, BackoffBase: d(200 * time.Millisecond), BackoffMax: d(5 * time.Second),
		BudgetRatio: ptr(0.2), MinRetries: ptr(3), BudgetWindow: d(10 * time.Second), MaxRetryAfter: d(10 * time.Second)}
}

func defaultBreaker() guardconfig.Breaker {
	return guardconfig.Breaker{Window: d(30 * time.Second), MinRequests: 20, FailureRatio: 0.5, ConsecutiveFailures: 5,
		OpenDuration: d(30 * time.Second), HalfOpenProbes: 1}
}

// claudeHaiku is config/samples' bedrock endpoint as the guard gets it.
func claudeHaiku() guardconfig.Endpoint {
	model := "us.anthropic.claude-3-5-haiku-20241022-v1:0"
	prices := guardconfig.Prices{InputPer1K: "0.0008", OutputPer1K: "0.004"}
	return guardconfig.Endpoint{
		Name: "claude-haiku", Provider: guardconfig.Bedrock,
		Targets: []guardconfig.Target{
			{Name: "us-east-1", Weight: 100, Region: "us-east-1", ModelID: model, Prices: prices},
			{Name: "us-west-2", Weight: 0, Region: "us-west-2", ModelID: model, Prices: prices},
		},
		Limits:   guardconfig.Limits{MaxRequestBytes: 10485760, MaxPromptTokens: 50000, MaxOutputTokens: 2048},
		Timeouts: guardconfig.Timeouts{Request: d(120 * time.Second), FirstToken: d(15 * time.Second), StreamIdle: d(30 * time.Second)},
		Retry:    defaultRetry(),
		Breaker:  defaultBreaker(),
	}
}

// docsSearch is config/samples' opensearch backend as the guard gets it.
func docsSearch() guardconfig.RetrievalBackend {
	return guardconfig.RetrievalBackend{Name: "docs-search", Type: guardconfig.OpenSearch,
		URL: "https://opensearch.search.svc.cluster.local:9200", MaxDocuments: 20, MaxResponseBytes: 8388608,
		Timeout: d(2 * time.Second), Retry: defaultRetry(), Breaker: defaultBreaker(), OnFailure: guardconfig.Degrade}
}

// configCase is a set of objects applied to a namespace and the guard config it must render to.
type configCase struct {
	name string
	// apply creates the objects in ns and returns the workload and its pods' ServiceAccount.
	apply func(t *testing.T, ns string) (*bw.GenAIWorkload, string)
	want  func(ns string) *guardconfig.Config
}

var configCases = []configCase{{
	name: "bedrock endpoint, opensearch backend, quota and failover policy, Deployment with its own ServiceAccount",
	apply: func(t *testing.T, ns string) (*bw.GenAIWorkload, string) {
		deployment(t, ns, "support-assistant", "assistant")
		w := &bw.GenAIWorkload{}
		sample(t, "breakwater_v1alpha1_genaiworkload.yaml", ns, w)
		objs := []client.Object{&bw.ModelEndpoint{}, &bw.RetrievalBackend{}, &bw.TokenQuota{}, &bw.FailoverPolicy{}, w}
		for i, f := range []string{"modelendpoint", "retrievalbackend", "tokenquota", "failoverpolicy", "genaiworkload"} {
			if i < 4 {
				sample(t, "breakwater_v1alpha1_"+f+".yaml", ns, objs[i])
			}
			if err := c.Create(context.Background(), objs[i]); err != nil {
				t.Fatal(err)
			}
		}
		return w, "assistant"
	},
	want: func(ns string) *guardconfig.Config {
		return &guardconfig.Config{APIVersion: guardconfig.APIVersion,
			Workload:          guardconfig.Workload{Namespace: ns, Name: "support-assistant", Criticality: guardconfig.Sheddable},
			Endpoints:         []guardconfig.Endpoint{claudeHaiku()},
			RetrievalBackends: []guardconfig.RetrievalBackend{docsSearch()},
			// No admission quotas: the suite's manager has no admission store, and the sample
			// quota chooses no enforcement.
			Quota: guardconfig.Quota{State: guardconfig.QuotaNormal}}
	},
}, {
	name: "openai endpoint with an API-key Secret and an http backend, selector only",
	apply: func(t *testing.T, ns string) (*bw.GenAIWorkload, string) {
		me := &bw.ModelEndpoint{}
		sample(t, "breakwater_v1alpha1_modelendpoint_openai.yaml", ns, me)
		rb := &bw.RetrievalBackend{ObjectMeta: metav1.ObjectMeta{Name: "kb", Namespace: ns}, Spec: bw.RetrievalBackendSpec{
			Type: bw.RetrievalHTTP, URL: "http://kb.search:8080", CountField: "top_k", DocumentsField: "results",
			OnFailure: bw.RetrievalFailurePolicy{Mode: bw.FailureCache, CacheTTL: &metav1.Duration{Duration: 5 * time.Minute}}}}
		w := &bw.GenAIWorkload{ObjectMeta: metav1.ObjectMeta{Name: "chat", Namespace: ns}, Spec: bw.GenAIWorkloadSpec{
			Selector:          &metav1.LabelSelector{MatchLabels: map[string]string{"app": "chat"}},
			Criticality:       bw.CriticalityCritical,
			ModelEndpoints:    []bw.LocalObjectReference{{Name: "llama-vllm"}},
			RetrievalBackends: []bw.LocalObjectReference{{Name: "kb"}}}}
		for _, o := range []client.Object{w, rb, me} {
			if err := c.Create(context.Background(), o); err != nil {
				t.Fatal(err)
			}
		}
		return w, "default"
	},
	want: func(ns string) *guardconfig.Config {
		return &guardconfig.Config{APIVersion: guardconfig.APIVersion,
			Workload: guardconfig.Workload{Namespace: ns, Name: "chat", Criticality: guardconfig.Critical},
			Endpoints: []guardconfig.Endpoint{{Name: "llama-vllm", Provider: guardconfig.OpenAI,
				Targets: []guardconfig.Target{{Name: "vllm", Weight: 100, URL: "http://vllm.models.svc.cluster.local:8000/v1",
					APIKeyFile: "/var/run/breakwater/secrets/vllm-api-key/api-key"}},
				Limits:   guardconfig.Limits{MaxRequestBytes: 1048576, MaxOutputTokens: 1024},
				Timeouts: guardconfig.Timeouts{Request: d(300 * time.Second), FirstToken: d(300 * time.Second), StreamIdle: d(60 * time.Second)},
				Retry:    defaultRetry(), Breaker: defaultBreaker()}},
			RetrievalBackends: []guardconfig.RetrievalBackend{{Name: "kb", Type: guardconfig.HTTPSearch, URL: "http://kb.search:8080",
				CapField: "top_k", ResultsField: "results", MaxDocuments: 20, MaxResponseBytes: 8388608, Timeout: d(2 * time.Second),
				Retry: defaultRetry(), Breaker: defaultBreaker(), OnFailure: guardconfig.Cache}},
			Quota: guardconfig.Quota{State: guardconfig.QuotaNormal}}
	},
}}

// guardConfigMap reads the workload's ConfigMap once the workload is Ready, its status names the
// hash the ConfigMap holds, that hash is not notHash, and the config passes check (nil: any).
func guardConfigMap(t *testing.T, w *bw.GenAIWorkload, notHash string, check func(*guardconfig.Config) bool) *corev1.ConfigMap {
	t.Helper()
	cm := &corev1.ConfigMap{}
	eventually(t, "the workload to be Ready with a new config hash in its ConfigMap", func(ctx context.Context) (bool, error) {
		if ok, err := workloadReady(ctx, w, metav1.ConditionTrue, bw.ReasonReconciled); !ok || err != nil {
			return false, err
		}
		if w.Status.ConfigHash == "" || w.Status.ConfigHash == notHash || w.Status.ObservedGeneration != w.Generation {
			return false, nil
		}
		err := c.Get(ctx, client.ObjectKey{Namespace: w.Namespace, Name: w.Status.ConfigMapName}, cm)
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil || render.Hash([]byte(cm.Data[guardconfig.ConfigMapKey])) != w.Status.ConfigHash {
			return false, err
		}
		got := &guardconfig.Config{}
		if err := json.Unmarshal([]byte(cm.Data[guardconfig.ConfigMapKey]), got); err != nil {
			return false, err
		}
		return check == nil || check(got), nil
	})
	if got := cm.Annotations[controllers.AnnotationConfigHash]; got != w.Status.ConfigHash {
		t.Errorf("ConfigMap annotation %s = %q, want %q", controllers.AnnotationConfigHash, got, w.Status.ConfigHash)
	}
	if got := cm.Labels[controllers.LabelManagedBy]; got != controllers.ManagedByValue {
		t.Errorf("ConfigMap label %s = %q, want %q", controllers.LabelManagedBy, got, controllers.ManagedByValue)
	}
	return cm
}

func decode(t *testing.T, cm *corev1.ConfigMap) *guardconfig.Config {
	t.Helper()
	data := []byte(cm.Data[guardconfig.ConfigMapKey])
	if _, err := guardconfig.Parse(data); err != nil {
		t.Fatalf("the guard refuses the rendered config: %v", err)
	}
	got := &guardconfig.Config{}
	if err := json.Unmarshal(data, got); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestGuardConfigMap checks the rendered ConfigMap against the expected guard config for a table
// of CRD combinations, that the Role lets exactly the workload's ServiceAccount read exactly that
// ConfigMap, and that everything the workload owns points back at it.
func TestGuardConfigMap(t *testing.T) {
	for _, tc := range configCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := namespace(t, "config")
			w, sa := tc.apply(t, ns)
			cm := guardConfigMap(t, w, "", nil)
			if diff := cmp.Diff(tc.want(ns), decode(t, cm)); diff != "" {
				t.Errorf("rendered guard config (-want +got):\n%s", diff)
			}
			if got := apimeta.FindStatusCondition(w.Status.Conditions, bw.ConditionConfigRendered); got == nil || got.Status != metav1.ConditionTrue {
				t.Errorf("ConfigRendered = %+v, want True", got)
			}
			if w.Status.State != bw.WorkloadActive || w.Status.ConfigMapName != w.Name+"-guard" {
				t.Errorf("state %q, configMapName %q; want Active, %s-guard", w.Status.State, w.Status.ConfigMapName, w.Name)
			}
			checkAccess(t, ns, sa, cm.Name)
			checkOwned(t, w)
		})
	}
}

// checkAccess asks the API server's authorizer what the workload's ServiceAccount may do.
func checkAccess(t *testing.T, ns, sa, configMap string) {
	t.Helper()
	user := fmt.Sprintf("system:serviceaccount:%s:%s", ns, sa)
	cases := []struct {
		verb, resource, name string
		allowed              bool
	}{
		{"get", "configmaps", configMap, true},
		{"watch", "configmaps", configMap, true},
		{"list", "configmaps", configMap, false}, // the guard gets, then watches by name: no list needed
		{"list", "configmaps", "", false},
		{"update", "configmaps", configMap, false},
		{"get", "configmaps", "another-config", false},
		{"get", "secrets", "vllm-api-key", false},
		{"list", "secrets", "", false},
	}
	for _, tc := range cases {
		eventually(t, fmt.Sprintf("%s to be allowed=%v to %s %s %q", user, tc.allowed, tc.verb, tc.resource, tc.name),
			func(ctx context.Context) (bool, error) {
				return allowed(ctx, user, ns, tc.verb, tc.resource, tc.name) == tc.allowed, nil
			})
	}
	// Another ServiceAccount of the namespace gets nothing.
	if other := fmt.Sprintf("system:serviceaccount:%s:someone-else", ns); allowed(context.Background(), other, ns, "get", "configmaps", configMap) {
		t.Errorf("%s may read %s", other, configMap)
	}
}

func allowed(ctx context.Context, user, ns, verb, resource, name string) bool {
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   user,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: ns, Verb: verb, Resource: resource, Name: name,
		},
	}}
	if err := c.Create(ctx, sar); err != nil {
		return false
	}
	return sar.Status.Allowed
}

// checkOwned checks that the workload controls its ConfigMap, Role and RoleBinding, so that the
// garbage collector (which envtest does not run) removes them with it.
func checkOwned(t *testing.T, w *bw.GenAIWorkload) {
	t.Helper()
	name := w.Name + "-guard"
	want := []metav1.OwnerReference{{APIVersion: bw.GroupVersion.String(), Kind: "GenAIWorkload", Name: w.Name, UID: w.UID,
		Controller: ptr(true), BlockOwnerDeletion: ptr(true)}}
	for _, obj := range []client.Object{&corev1.ConfigMap{}, &rbacv1.Role{}, &rbacv1.RoleBinding{}} {
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: w.Namespace, Name: name}, obj); err != nil {
			t.Fatalf("reading %T %s: %v", obj, name, err)
		}
		if diff := cmp.Diff(want, obj.GetOwnerReferences()); diff != "" {
			t.Errorf("owner references of %T %s (-want +got):\n%s", obj, name, diff)
		}
	}
}

// TestConfigFollowsReferencedObjects changes every kind of object a workload's config is made of,
// one at a time, and checks that each change reaches the ConfigMap under a new hash.
func TestConfigFollowsReferencedObjects(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "follow")
	w, _ := configCases[0].apply(t, ns)
	guardConfigMap(t, w, "", nil) // the first config, before anything changes
	ctx := context.Background()
	key := func(name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }

	changes := []struct {
		name   string
		change func() error
		check  func(c *guardconfig.Config) bool
	}{{
		"a target's price",
		func() error {
			me := &bw.ModelEndpoint{}
			if err := c.Get(ctx, key("claude-haiku"), me); err != nil {
				return err
			}
			me.Spec.Targets[0].Price.OutputPer1kTokens = "0.005"
			return c.Update(ctx, me)
		},
		func(g *guardconfig.Config) bool { return g.Endpoints[0].Targets[0].Prices.OutputPer1K == "0.005" },
	}, {
		"the backend's document cap",
		func() error {
			rb := &bw.RetrievalBackend{}
			if err := c.Get(ctx, key("docs-search"), rb); err != nil {
				return err
			}
			rb.Spec.MaxDocuments = 7
			return c.Update(ctx, rb)
		},
		func(g *guardconfig.Config) bool { return g.RetrievalBackends[0].MaxDocuments == 7 },
	}, {
		"the covering quota's state",
		func() error {
			q := &bw.TokenQuota{}
			if err := c.Get(ctx, key("claude-budget"), q); err != nil {
				return err
			}
			before := q.DeepCopy()
			q.Status.State = bw.QuotaWarning
			return c.Status().Patch(ctx, q, client.MergeFrom(before))
		},
		func(g *guardconfig.Config) bool { return g.Quota.State == guardconfig.QuotaWarning },
	}, {
		"the failover policy's weights",
		func() error {
			p := &bw.FailoverPolicy{}
			if err := c.Get(ctx, key("claude-regions"), p); err != nil {
				return err
			}
			before := p.DeepCopy()
			p.Status.Weights = []bw.TargetWeight{{Target: "us-east-1", Weight: 50}, {Target: "us-west-2", Weight: 50}}
			return c.Status().Patch(ctx, p, client.MergeFrom(before))
		},
		func(g *guardconfig.Config) bool {
			return g.Endpoints[0].Targets[0].Weight == 50 && g.Endpoints[0].Targets[1].Weight == 50
		},
	}, {
		"the workload's criticality",
		func() error {
			if err := c.Get(ctx, client.ObjectKeyFromObject(w), w); err != nil {
				return err
			}
			w.Spec.Criticality = bw.CriticalityStandard
			return c.Update(ctx, w)
		},
		func(g *guardconfig.Config) bool { return g.Workload.Criticality == guardconfig.Standard },
	}}
	for _, ch := range changes {
		hash := w.Status.ConfigHash
		if err := ch.change(); err != nil {
			t.Fatalf("changing %s: %v", ch.name, err)
		}
		// Polling for the change itself (not only for a new hash) keeps the test exact even if
		// an earlier change is still being reconciled.
		cm := guardConfigMap(t, w, hash, ch.check)
		decode(t, cm)
	}
}

// TestRoleBindingFollowsServiceAccount changes the Deployment's ServiceAccount and checks that the
// access moves with it.
func TestRoleBindingFollowsServiceAccount(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "sa")
	w, _ := configCases[0].apply(t, ns)
	cm := guardConfigMap(t, w, "", nil)
	dep := &appsv1.Deployment{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "support-assistant"}, dep); err != nil {
		t.Fatal(err)
	}
	// Pods that name no ServiceAccount run as "default". The deprecated field is cleared too, or
	// the API server would copy it back into serviceAccountName.
	dep.Spec.Template.Spec.ServiceAccountName = ""
	dep.Spec.Template.Spec.DeprecatedServiceAccount = ""
	if err := c.Update(context.Background(), dep); err != nil {
		t.Fatal(err)
	}
	checkAccess(t, ns, "default", cm.Name)
	if allowed(context.Background(), fmt.Sprintf("system:serviceaccount:%s:assistant", ns), ns, "get", "configmaps", cm.Name) {
		t.Errorf("the Deployment's former ServiceAccount can still read %s", cm.Name)
	}
}

// TestMissingReferencesResolveByThemselves applies a workload before what it names, and checks it
// reports each missing reference and becomes Ready once they exist, with an Event at every change.
func TestMissingReferencesResolveByThemselves(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "missing")
	ctx := context.Background()
	w := &bw.GenAIWorkload{}
	sample(t, "breakwater_v1alpha1_genaiworkload.yaml", ns, w)
	if err := c.Create(ctx, w); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		create func() client.Object
		reason string
		says   []string
	}{
		{nil, bw.ReasonEndpointNotFound, []string{`ModelEndpoint "claude-haiku" not found`, `RetrievalBackend "docs-search" not found`, "Deployment support-assistant not found"}},
		{func() client.Object {
			o := &bw.ModelEndpoint{}
			sample(t, "breakwater_v1alpha1_modelendpoint.yaml", ns, o)
			return o
		},
			bw.ReasonBackendNotFound, []string{`RetrievalBackend "docs-search" not found`}},
		{func() client.Object {
			o := &bw.RetrievalBackend{}
			sample(t, "breakwater_v1alpha1_retrievalbackend.yaml", ns, o)
			return o
		},
			bw.ReasonWorkloadNotFound, []string{"Deployment support-assistant not found"}},
		{func() client.Object { return deployment(t, ns, "support-assistant", "") }, bw.ReasonReconciled, []string{"ServiceAccount default"}},
	}
	for _, s := range steps {
		if s.create != nil {
			if o := s.create(); o.GetResourceVersion() == "" {
				if err := c.Create(ctx, o); err != nil {
					t.Fatal(err)
				}
			}
		}
		status := metav1.ConditionFalse
		if s.reason == bw.ReasonReconciled {
			status = metav1.ConditionTrue
		}
		eventually(t, "Ready="+string(status)+" "+s.reason, func(ctx context.Context) (bool, error) {
			return workloadReady(ctx, w, status, s.reason)
		})
		msg := apimeta.FindStatusCondition(w.Status.Conditions, bw.ConditionReady).Message
		for _, want := range s.says {
			if !strings.Contains(msg, want) {
				t.Errorf("Ready message %q does not say %q", msg, want)
			}
		}
	}
	// Ready went False then True: one Event each, from the manager, about the workload.
	for _, want := range []struct{ reason, typ string }{{bw.ReasonEndpointNotFound, corev1.EventTypeWarning}, {bw.ReasonReconciled, corev1.EventTypeNormal}} {
		eventually(t, "a "+want.typ+" Event "+want.reason, func(ctx context.Context) (bool, error) {
			evs := &eventsv1.EventList{}
			if err := c.List(ctx, evs, client.InNamespace(ns)); err != nil {
				return false, err
			}
			for _, e := range evs.Items {
				if e.Regarding.Name == w.Name && e.Regarding.Kind == "GenAIWorkload" && e.Reason == want.reason &&
					e.Type == want.typ && e.Action == bw.ConditionReady+map[string]string{corev1.EventTypeWarning: "False", corev1.EventTypeNormal: "True"}[want.typ] &&
					e.ReportingController == controllers.EventSource {
					return true, nil
				}
			}
			return false, nil
		})
	}
}

// TestDeletingWorkload deletes a workload and checks that nothing is left that it does not own:
// its ConfigMap, Role and RoleBinding name it as controller (envtest runs no garbage collector, so
// the owner references are the proof), and its Deployment is untouched.
func TestDeletingWorkload(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "delete")
	w, _ := configCases[0].apply(t, ns)
	cm := guardConfigMap(t, w, "", nil)
	checkOwned(t, w)
	ctx := context.Background()
	if err := c.Delete(ctx, w); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the workload to be gone", func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(w), &bw.GenAIWorkload{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	dep := &appsv1.Deployment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "support-assistant"}, dep); err != nil {
		t.Fatalf("the Deployment went with the workload: %v", err)
	}
	if len(dep.OwnerReferences) != 0 {
		t.Errorf("the Deployment got owner references %v; deleting a workload must leave its app running", dep.OwnerReferences)
	}
	// The manager does not resurrect or rewrite what a deleted workload owned.
	after := &corev1.ConfigMap{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(cm), after); err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != cm.ResourceVersion {
		t.Errorf("the ConfigMap was written after its workload was deleted")
	}
}

// TestConfigTheGuardWouldRefuse gives a workload an endpoint the CRD accepts but the guard would
// refuse, and checks that the workload says why and recovers once the endpoint is fixed.
func TestConfigTheGuardWouldRefuse(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "invalid")
	ctx := context.Background()
	me := &bw.ModelEndpoint{}
	sample(t, "breakwater_v1alpha1_modelendpoint_openai.yaml", ns, me)
	me.Spec.Targets[0].URL = "http://vllm.models.svc.cluster.local:8000/?tenant=a"
	w := &bw.GenAIWorkload{ObjectMeta: metav1.ObjectMeta{Name: "chat", Namespace: ns}, Spec: bw.GenAIWorkloadSpec{
		Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "chat"}},
		ModelEndpoints: []bw.LocalObjectReference{{Name: me.Name}}}}
	for _, o := range []client.Object{me, w} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "Ready=False ConfigInvalid", func(ctx context.Context) (bool, error) {
		return workloadReady(ctx, w, metav1.ConditionFalse, bw.ReasonConfigInvalid)
	})
	rendered := apimeta.FindStatusCondition(w.Status.Conditions, bw.ConditionConfigRendered)
	if rendered == nil || rendered.Status != metav1.ConditionFalse ||
		!strings.Contains(rendered.Message, "endpoints[0].targets[0].url: must not have a query or fragment") {
		t.Errorf("ConfigRendered = %+v, want False naming the field", rendered)
	}
	// The refused config is never written. A render that ran before the endpoint reached the cache
	// may have written a valid config without it; then status.configHash names that one.
	cm := &corev1.ConfigMap{}
	switch err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: w.Name + "-guard"}, cm); {
	case apierrors.IsNotFound(err):
		if w.Status.ConfigHash != "" {
			t.Errorf("no ConfigMap, but status.configHash is %q", w.Status.ConfigHash)
		}
	case err != nil:
		t.Fatal(err)
	default:
		if strings.Contains(cm.Data[guardconfig.ConfigMapKey], "tenant=a") {
			t.Error("the refused config was written to the ConfigMap")
		}
		if got := cm.Annotations[controllers.AnnotationConfigHash]; got != w.Status.ConfigHash {
			t.Errorf("status.configHash %q does not name the ConfigMap's config %q", w.Status.ConfigHash, got)
		}
	}
	// The manager writes the endpoint's status meanwhile: retry the spec update on conflict.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(me), me); err != nil {
			return err
		}
		me.Spec.Targets[0].URL = "http://vllm.models.svc.cluster.local:8000"
		return c.Update(ctx, me)
	}); err != nil {
		t.Fatal(err)
	}
	guardConfigMap(t, w, "", nil)
}

// TestInjectedPodsAreCountedAndTheirServiceAccountsBound checks status.injectedPods and that the
// guard's RoleBinding follows the ServiceAccounts the injected pods actually run as (a pod may name
// its own), and forgets one whose pods are gone.
func TestInjectedPodsAreCountedAndTheirServiceAccountsBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := namespace(t, "pods")
	w, _ := configCases[0].apply(t, ns)
	cm := guardConfigMap(t, w, "", nil)
	pod := func(name, sa string, labels map[string]string) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
			Spec: corev1.PodSpec{ServiceAccountName: sa,
				Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}}},
		}
		if err := c.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	injected := map[string]string{sidecar.WorkloadLabel: w.Name}
	pod("app-1", "", injected)
	batch := pod("batch-1", "batch-runner", injected)
	pod("unrelated", "batch-runner", map[string]string{"app": "other"})

	injectedPods := func(n int32) func(ctx context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) {
			got := &bw.GenAIWorkload{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(w), got); err != nil {
				return false, err
			}
			return got.Status.InjectedPods == n, nil
		}
	}
	eventually(t, "injectedPods = 2", injectedPods(2))
	checkAccess(t, ns, "batch-runner", cm.Name)

	if err := c.Delete(ctx, batch); err != nil {
		t.Fatal(err)
	}
	eventually(t, "injectedPods = 1", injectedPods(1))
	eventually(t, "batch-runner to lose access with its last pod", func(ctx context.Context) (bool, error) {
		return !allowed(ctx, fmt.Sprintf("system:serviceaccount:%s:batch-runner", ns), ns, "get", "configmaps", cm.Name), nil
	})
}

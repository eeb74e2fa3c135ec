package manager

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/controllers"
	"github.com/breakwater-dev/breakwater/internal/sidecar"
	"github.com/breakwater-dev/breakwater/test/testenv"
)

const (
	managerNamespace = "breakwater-system"
	managerSA        = "controller-manager"
)

// TestManagerWorksWithExactlyTheGeneratedRBAC runs the whole manager — reconcilers, guard injection
// webhook, leader election — as its ServiceAccount (impersonated), holding only the RBAC of
// config/rbac as `make manifests` generates it. A permission the manager uses but the markers do not
// grant shows up here as an object that never converges.
func TestManagerWorksWithExactlyTheGeneratedRBAC(t *testing.T) {
	env, err := testenv.StartWithWebhooks()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	admin := env.Client
	mustCreate(ctx, t, admin, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: managerNamespace}})
	mustCreate(ctx, t, admin, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: managerNamespace, Name: managerSA}})
	for _, f := range []string{"role.yaml", "role_binding.yaml", "leader_election_role.yaml", "metrics_auth_role.yaml"} {
		applyRBAC(ctx, t, env, filepath.Join(env.RepoRoot, "config", "rbac", f))
	}

	asManager := rest.CopyConfig(env.Config)
	asManager.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + managerNamespace + ":" + managerSA,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + managerNamespace, "system:authenticated"},
	}
	wh := env.Webhook()
	opts := Options{
		MetricsAddr: "0", ProbeAddr: "0",
		LeaderElect: true, LeaderElectionID: "breakwater-manager.breakwater.dev",
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		WebhookHost: wh.LocalServingHost, WebhookPort: wh.LocalServingPort, WebhookCertDir: wh.LocalServingCertDir,
		GracefulShutdownTime: 5 * time.Second,
		Namespace:            managerNamespace, CertManagement: CertsExternal, GuardImage: "img",
		GuardImagePullPolicy: corev1.PullIfNotPresent,
	}
	mgr, err := New(asManager, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := SetupControllers(ctx, mgr, controllers.Sources{}); err != nil {
		t.Fatal(err)
	}
	if err := SetupWebhook(mgr, opts); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager stopped with an error: %v", err)
		}
	})

	// A workload with everything it names, in a namespace that opts in to injection.
	const ns = "team"
	mustCreate(ctx, t, admin, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"breakwater.dev/injection": "enabled"}}})
	mustCreate(ctx, t, admin, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "chat"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "chat"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "chat"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/chat:1"}}},
			},
		},
	})
	mustCreate(ctx, t, admin, &breakwaterv1alpha1.ModelEndpoint{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "claude"},
		Spec: breakwaterv1alpha1.ModelEndpointSpec{
			Provider: breakwaterv1alpha1.ProviderBedrock,
			Targets: []breakwaterv1alpha1.ModelTarget{
				{Name: "us-east-1", Weight: ptr.To[int32](100), Region: "us-east-1", ModelID: "m"},
				{Name: "us-west-2", Weight: ptr.To[int32](0), Region: "us-west-2", ModelID: "m"},
			},
		},
	})
	mustCreate(ctx, t, admin, &breakwaterv1alpha1.GenAIWorkload{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "chat"},
		Spec: breakwaterv1alpha1.GenAIWorkloadSpec{
			WorkloadRef:    &breakwaterv1alpha1.WorkloadReference{Kind: "Deployment", Name: "chat"},
			ModelEndpoints: []breakwaterv1alpha1.LocalObjectReference{{Name: "claude"}},
		},
	})

	// The reconcilers converge: workload Ready, its ConfigMap, Role and RoleBinding written.
	key := types.NamespacedName{Namespace: ns, Name: "chat"}
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		wl := &breakwaterv1alpha1.GenAIWorkload{}
		if err := admin.Get(ctx, key, wl); err != nil {
			return false, err
		}
		return apimeta.IsStatusConditionTrue(wl.Status.Conditions, breakwaterv1alpha1.ConditionReady), nil
	}); err != nil {
		t.Fatalf("the GenAIWorkload never became Ready under the generated RBAC: %v", err)
	}
	cm := &corev1.ConfigMap{}
	if err := admin.Get(ctx, types.NamespacedName{Namespace: ns, Name: sidecar.ConfigMapName("chat")}, cm); err != nil {
		t.Errorf("the guard ConfigMap: %v", err)
	}

	// The webhook, reading through the manager's cache, injects pods of the workload.
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "chat-1", Labels: map[string]string{"app": "chat"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/chat:1"}}},
		}
		if err := admin.Create(ctx, p, client.DryRunAll); err != nil {
			return false, err
		}
		return len(p.Spec.InitContainers) == 1, nil
	}); err != nil {
		t.Errorf("the webhook never injected the guard under the generated RBAC: %v", err)
	}

	// Leader election took its Lease in the manager's namespace.
	lease := &coordinationv1.Lease{}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		err := admin.Get(ctx, types.NamespacedName{Namespace: managerNamespace, Name: opts.LeaderElectionID}, lease)
		return err == nil && lease.Spec.HolderIdentity != nil, nil
	}); err != nil {
		t.Errorf("no leader-election Lease: %v", err)
	}

	// Events are written with the manager's own rights too: the leader election's (core API) and
	// the reconcilers' (events.k8s.io).
	for _, check := range []struct {
		what string
		list client.ObjectList
		ns   string
	}{
		{"a LeaderElection Event in " + managerNamespace, &corev1.EventList{}, managerNamespace},
		{"an Event about the workload in " + ns, &eventsv1.EventList{}, ns},
	} {
		if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			if err := admin.List(ctx, check.list, client.InNamespace(check.ns)); err != nil {
				return false, err
			}
			return apimeta.LenList(check.list) > 0, nil
		}); err != nil {
			t.Errorf("no %s: %v", check.what, err)
		}
	}
}

func mustCreate(ctx context.Context, t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(ctx, obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// applyRBAC creates the objects of one config/rbac file as kustomize would place them: namespaced
// objects and ServiceAccount subjects in the manager's namespace ("system" in the files).
func applyRBAC(ctx context.Context, t *testing.T, env *testenv.Env, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
			return
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		if obj.GetNamespace() != "" {
			obj.SetNamespace(managerNamespace)
		}
		if subjects, ok, _ := unstructured.NestedSlice(obj.Object, "subjects"); ok {
			for _, s := range subjects {
				s.(map[string]any)["namespace"] = managerNamespace
			}
			_ = unstructured.SetNestedSlice(obj.Object, subjects, "subjects")
		}
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatalf("%s: creating %s %s: %v", path, obj.GetKind(), obj.GetName(), err)
		}
	}
}

package webhook

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/sidecar"
	"github.com/breakwater-dev/breakwater/test/testenv"
)

var env *testenv.Env

// TestMain starts a real API server with config/webhook/manifests.yaml installed, and the manager's
// webhook server with the injector, so every pod in these tests is admitted for real.
func TestMain(m *testing.M) {
	var err error
	env, err = testenv.StartWithWebhooks()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	wh := env.Webhook()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:  env.Scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		WebhookServer: ctrlwebhook.NewServer(ctrlwebhook.Options{
			Host: wh.LocalServingHost, Port: wh.LocalServingPort, CertDir: wh.LocalServingCertDir,
		}),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	Setup(mgr, sidecar.Options{Image: "ghcr.io/breakwater-dev/breakwater:test", ImagePullPolicy: corev1.PullIfNotPresent})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		code = 1
	}
	_ = env.Stop()
	os.Exit(code)
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

func pod(ns, name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "example.com/chat:1",
			Env: []corev1.EnvVar{{Name: "AWS_ENDPOINT_URL_BEDROCK_RUNTIME", Value: "http://app-chose-this"}},
		}}},
	}
}

// setupWorkload creates a namespace with a Deployment, an OpenAI endpoint with an API-key Secret, a
// Bedrock endpoint and a GenAIWorkload naming them, and waits until the webhook's cache sees them.
func setupWorkload(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"breakwater.dev/injection": "enabled"}}})
	create(t, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "chat"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "chat"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "chat"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/chat:1"}}},
			},
		},
	})
	create(t, &breakwaterv1alpha1.ModelEndpoint{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "llama"},
		Spec: breakwaterv1alpha1.ModelEndpointSpec{
			Provider: breakwaterv1alpha1.ProviderOpenAI,
			Targets: []breakwaterv1alpha1.ModelTarget{{
				Name: "vllm", Weight: ptr.To[int32](100), URL: "http://vllm.models:8000",
				APIKeySecretRef: &breakwaterv1alpha1.SecretKeyReference{Name: "vllm-key", Key: "token"},
			}},
		},
	})
	create(t, &breakwaterv1alpha1.ModelEndpoint{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "claude"},
		Spec: breakwaterv1alpha1.ModelEndpointSpec{
			Provider: breakwaterv1alpha1.ProviderBedrock,
			Targets:  []breakwaterv1alpha1.ModelTarget{{Name: "us-east-1", Weight: ptr.To[int32](100), Region: "us-east-1", ModelID: "m"}},
		},
	})
	create(t, &breakwaterv1alpha1.GenAIWorkload{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "chat"},
		Spec: breakwaterv1alpha1.GenAIWorkloadSpec{
			WorkloadRef:    &breakwaterv1alpha1.WorkloadReference{Kind: "Deployment", Name: "chat"},
			Criticality:    breakwaterv1alpha1.CriticalitySheddable,
			ModelEndpoints: []breakwaterv1alpha1.LocalObjectReference{{Name: "llama"}, {Name: "claude"}, {Name: "not-yet-created"}},
		},
	})
	// The injector reads from the manager's cache: wait until a dry-run admission injects.
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p := pod(ns, "probe", map[string]string{"app": "chat"})
		if err := env.Client.Create(ctx, p, client.DryRunAll); err != nil {
			return false, err
		}
		return len(p.Spec.InitContainers) == 1 && len(p.Spec.Volumes) == 1, nil
	}); err != nil {
		t.Fatalf("the webhook never injected a pod of the workload: %v", err)
	}
}

func TestInjectsGuardIntoWorkloadPods(t *testing.T) {
	setupWorkload(t, "inject")
	p := pod("inject", "chat-1", map[string]string{"app": "chat", "pod-template-hash": "abc"})
	create(t, p)

	if n := len(p.Spec.InitContainers); n != 1 {
		t.Fatalf("want the guard as the only init container, got %d", n)
	}
	guard := p.Spec.InitContainers[0]
	if diff := cmp.Diff(sidecar.ContainerName, guard.Name); diff != "" {
		t.Errorf("guard name: %s", diff)
	}
	if guard.RestartPolicy == nil || *guard.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("the guard must be a native sidecar (restartPolicy Always), got %v", guard.RestartPolicy)
	}
	wantArgs := []string{"--config-configmap=inject/chat-guard", "--listen=127.0.0.1:8787", "--admin-listen=:9787", "--log-level=info"}
	if diff := cmp.Diff(wantArgs, guard.Args); diff != "" {
		t.Errorf("guard args (-want +got):\n%s", diff)
	}
	sc := guard.SecurityContext
	if sc == nil || !ptr.Deref(sc.RunAsNonRoot, false) || !ptr.Deref(sc.ReadOnlyRootFilesystem, false) ||
		ptr.Deref(sc.AllowPrivilegeEscalation, true) || sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 {
		t.Errorf("guard security context is not locked down: %+v", sc)
	}
	if diff := cmp.Diff(sidecar.DefaultResources(), guard.Resources); diff != "" {
		t.Errorf("guard resources (-want +got):\n%s", diff)
	}
	// The API key Secret, only the key the endpoint uses, read-only in the guard alone.
	if len(p.Spec.Volumes) != 1 || p.Spec.Volumes[0].Secret == nil || p.Spec.Volumes[0].Secret.SecretName != "vllm-key" {
		t.Fatalf("want one Secret volume for vllm-key, got %+v", p.Spec.Volumes)
	}
	if diff := cmp.Diff([]corev1.KeyToPath{{Key: "token", Path: "token"}}, p.Spec.Volumes[0].Secret.Items); diff != "" {
		t.Errorf("secret items: %s", diff)
	}
	if len(guard.VolumeMounts) != 1 || guard.VolumeMounts[0].MountPath != "/var/run/breakwater/secrets/vllm-key" || !guard.VolumeMounts[0].ReadOnly {
		t.Errorf("guard mounts: %+v", guard.VolumeMounts)
	}
	if len(p.Spec.Containers[0].VolumeMounts) != 0 {
		t.Errorf("the application must not see the API key: %+v", p.Spec.Containers[0].VolumeMounts)
	}
	// SDK variables: OpenAI points at the guard; the app's own Bedrock endpoint is kept.
	wantEnv := []corev1.EnvVar{
		{Name: "AWS_ENDPOINT_URL_BEDROCK_RUNTIME", Value: "http://app-chose-this"},
		{Name: "BREAKWATER_GUARD_URL", Value: "http://127.0.0.1:8787"},
		{Name: "OPENAI_BASE_URL", Value: "http://127.0.0.1:8787/m/llama/v1"},
	}
	if diff := cmp.Diff(wantEnv, p.Spec.Containers[0].Env); diff != "" {
		t.Errorf("app env (-want +got):\n%s", diff)
	}
	if got := p.Annotations[sidecar.InjectedAnnotation]; got != "chat" {
		t.Errorf("injected annotation = %q, want chat", got)
	}

	// A second admission of the same pod (e.g. a re-created pod spec) does not inject again.
	again := pod("inject", "chat-2", p.Labels)
	again.Annotations = p.Annotations
	again.Spec = *p.Spec.DeepCopy()
	again.Spec.NodeName = ""
	create(t, again)
	if n := len(again.Spec.InitContainers); n != 1 {
		t.Errorf("second admission: want 1 init container, got %d", n)
	}
	if n := len(again.Spec.Volumes); n != len(p.Spec.Volumes) {
		t.Errorf("second admission: volumes went from %d to %d", len(p.Spec.Volumes), n)
	}
}

func TestLeavesOtherPodsUntouched(t *testing.T) {
	setupWorkload(t, "untouched")
	other := pod("untouched", "batch-1", map[string]string{"app": "batch"})
	want := other.Spec.DeepCopy()
	create(t, other)
	if len(other.Spec.InitContainers) != 0 || len(other.Spec.Volumes) != 0 || len(other.Annotations) != 0 {
		t.Errorf("a pod of no workload was changed: init=%d volumes=%d annotations=%v",
			len(other.Spec.InitContainers), len(other.Spec.Volumes), other.Annotations)
	}
	if diff := cmp.Diff(want.Containers[0].Env, other.Spec.Containers[0].Env); diff != "" {
		t.Errorf("env changed: %s", diff)
	}
}

// An application that turned off its API token still gets a guard that can watch its config.
func TestProjectsTokenWhenAutomountIsOff(t *testing.T) {
	setupWorkload(t, "notoken")
	p := pod("notoken", "chat-1", map[string]string{"app": "chat"})
	p.Spec.AutomountServiceAccountToken = ptr.To(false)
	create(t, p)
	guard := p.Spec.InitContainers[0]
	var mounted bool
	for _, m := range guard.VolumeMounts {
		mounted = mounted || m.MountPath == "/var/run/secrets/kubernetes.io/serviceaccount"
	}
	if !mounted {
		t.Errorf("the guard has no service account token: %+v", guard.VolumeMounts)
	}
	for _, m := range p.Spec.Containers[0].VolumeMounts {
		if m.MountPath == "/var/run/secrets/kubernetes.io/serviceaccount" {
			t.Errorf("the application got a token it opted out of")
		}
	}
}

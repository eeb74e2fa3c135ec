package controllers_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	bw "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/controllers"
	"github.com/breakwater-dev/breakwater/internal/manager"
	"github.com/breakwater-dev/breakwater/test/testenv"
)

var (
	env *testenv.Env
	c   client.Client
)

// TestMain starts a real API server and the manager with every reconciler, as cmd/manager does;
// tests talk to the API server directly and wait for the manager to converge.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// The manager logs errors only, unless BREAKWATER_TEST_LOG asks for everything.
	level := zapcore.ErrorLevel
	if os.Getenv("BREAKWATER_TEST_LOG") != "" {
		level = zapcore.DebugLevel
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(level)))
	var err error
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		}
	}()
	c = env.Client
	mgr, err := manager.New(env.Config, manager.Options{
		MetricsAddr: "0", ProbeAddr: "0", WebhookPort: 0,
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		GracefulShutdownTime: 5 * time.Second,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := manager.SetupControllers(ctx, mgr, controllers.Sources{}); err != nil {
		cancel()
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "the manager stopped with an error:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

var nsCounter atomic.Int64

// namespace creates a fresh namespace, so tests and permutations never see each other's objects.
func namespace(t testing.TB, prefix string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, nsCounter.Add(1))
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	return name
}

// eventually polls cond until it holds; what says what was awaited, for the failure message.
func eventually(t testing.TB, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := poll(cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func poll(cond func(ctx context.Context) (bool, error)) error {
	return wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 45*time.Second, true, cond)
}

// sample reads one object of config/samples into obj, moved to namespace ns.
func sample(t testing.TB, file, ns string, obj client.Object) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(env.RepoRoot, "config", "samples", file))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, obj); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	obj.SetNamespace(ns)
}

// deployment creates a Deployment whose pods run as serviceAccount ("" for the default).
func deployment(t testing.TB, ns, name, serviceAccount string) *appsv1.Deployment {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: serviceAccount,
					Containers:         []corev1.Container{{Name: "app", Image: "registry.example/app:1"}},
				},
			},
		},
	}
	if err := c.Create(context.Background(), d); err != nil {
		t.Fatalf("creating Deployment %s/%s: %v", ns, name, err)
	}
	return d
}

// conditionIs reports whether obj (read fresh) has condition type with status and reason.
func conditionIs(ctx context.Context, obj client.Object, conds func() []metav1.Condition, typ string, status metav1.ConditionStatus, reason string) (bool, error) {
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return false, err
	}
	cond := apimeta.FindStatusCondition(conds(), typ)
	return cond != nil && cond.Status == status && cond.Reason == reason, nil
}

func workloadReady(ctx context.Context, w *bw.GenAIWorkload, status metav1.ConditionStatus, reason string) (bool, error) {
	return conditionIs(ctx, w, func() []metav1.Condition { return w.Status.Conditions }, bw.ConditionReady, status, reason)
}

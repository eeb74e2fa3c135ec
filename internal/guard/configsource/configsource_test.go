package configsource

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/breakwater-dev/breakwater/internal/guardconfig"
)

// recorder is a LoadFunc that hands every document to the test.
func recorder() (LoadFunc, <-chan string) {
	ch := make(chan string, 16)
	return func(data []byte) error {
		ch <- string(data)
		return nil
	}, ch
}

// next waits for the next loaded document; the deadline only guards against a hang.
func next(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(30 * time.Second):
		t.Fatal("no document was loaded")
		return ""
	}
}

func TestWatchFile(t *testing.T) {
	dir := t.TempDir()
	// Like a ConfigMap volume: the file is a symlink swapped to a new folder on update.
	for _, v := range []string{"v1", "v2"} {
		if err := os.MkdirAll(filepath.Join(dir, v), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, v, "guard.json"), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "guard.json")
	if err := os.Symlink(filepath.Join(dir, "v1", "guard.json"), path); err != nil {
		t.Fatal(err)
	}
	load, ch := recorder()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = WatchFile(ctx, path, 5*time.Millisecond, load, slog.New(slog.DiscardHandler)) }()
	if got := next(t, ch); got != "v1" {
		t.Fatalf("first load = %q, want v1", got)
	}
	tmp := filepath.Join(dir, "guard.json.tmp")
	if err := os.Symlink(filepath.Join(dir, "v2", "guard.json"), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if got := next(t, ch); got != "v2" {
		t.Fatalf("second load = %q, want v2", got)
	}
}

// startAPIServer starts a real kube-apiserver and etcd (envtest).
func startAPIServer(t *testing.T) *envtest.Environment {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		_, file, _, _ := runtime.Caller(0)
		assets := filepath.Join(filepath.Dir(file), "..", "..", "..", "bin", "k8s", "1.37.2-linux-amd64")
		if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
			t.Fatalf("KUBEBUILDER_ASSETS is unset and %s has no kube-apiserver: run `make test` (or hack/envtest-assets.sh)", assets)
		}
		t.Setenv("KUBEBUILDER_ASSETS", assets)
	}
	env := &envtest.Environment{}
	if _, err := env.Start(); err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	return env
}

func TestWatchConfigMapWithResourceNamesRole(t *testing.T) {
	env := startAPIServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	admin, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	const ns, name = "shop", "assistant-guard"
	mustCreate := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	mustCreate(err)
	// Exactly the permissions the manager grants a guard: get and watch of its own ConfigMap.
	_, err = admin.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "guard"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"},
			ResourceNames: []string{name}, Verbs: []string{"get", "watch"}}},
	}, metav1.CreateOptions{})
	mustCreate(err)
	_, err = admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "guard"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "guard"},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "guard"}},
	}, metav1.CreateOptions{})
	mustCreate(err)
	user, err := env.AddUser(envtest.User{Name: "guard"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The guard's own client (core/v1 only), with the guard's RBAC.
	guardClient, err := NewConfigMaps(user.Config(), ns)
	if err != nil {
		t.Fatal(err)
	}

	load, ch := recorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = WatchConfigMap(ctx, guardClient, ns, name, load, slog.New(slog.DiscardHandler))
	}()

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Data: map[string]string{guardconfig.ConfigMapKey: "v1"}}
	// Created after the guard started: it waits for it.
	_, err = admin.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
	mustCreate(err)
	if got := next(t, ch); got != "v1" {
		t.Fatalf("first load = %q, want v1", got)
	}
	cm.Data[guardconfig.ConfigMapKey] = "v2"
	_, err = admin.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{})
	mustCreate(err)
	if got := next(t, ch); got != "v2" {
		t.Fatalf("after update = %q, want v2", got)
	}
	mustCreate(admin.CoreV1().ConfigMaps(ns).Delete(ctx, name, metav1.DeleteOptions{}))
	cm.ResourceVersion = ""
	cm.Data[guardconfig.ConfigMapKey] = "v3"
	_, err = admin.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
	mustCreate(err)
	if got := next(t, ch); got != "v3" {
		t.Fatalf("after re-create = %q, want v3", got)
	}
	// Another ConfigMap in the namespace is neither readable nor seen.
	_, err = guardClient.Get(ctx, "other", metav1.GetOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("reading another ConfigMap with the guard's credentials: %v, want Forbidden", err)
	}
	cancel()
	<-done
}

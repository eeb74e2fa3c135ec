package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/breakwater-dev/breakwater/internal/guardconfig"
)

// TestRunWithConfigMap runs the guard with --config-configmap and --kubeconfig against a real
// API server, with credentials limited to get/watch of its one ConfigMap.
func TestRunWithConfigMap(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		_, file, _, _ := runtime.Caller(0)
		assets := filepath.Join(filepath.Dir(file), "..", "..", "bin", "k8s", "1.37.2-linux-amd64")
		if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
			t.Fatalf("KUBEBUILDER_ASSETS is unset and %s has no kube-apiserver: run `make test` (or hack/envtest-assets.sh)", assets)
		}
		t.Setenv("KUBEBUILDER_ASSETS", assets)
	}
	env := &envtest.Environment{}
	if _, err := env.Start(); err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	defer func() { _ = env.Stop() }()
	ctx := context.Background()
	admin, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	const ns, name = "default", "assistant-guard"
	if _, err := admin.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "guard"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"},
			ResourceNames: []string{name}, Verbs: []string{"get", "watch"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "guard"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "guard"},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "guard"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	user, err := env.AddUser(envtest.User{Name: "guard"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfigPath := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(guardconfig.Config{
		APIVersion: guardconfig.APIVersion,
		Workload:   guardconfig.Workload{Namespace: ns, Name: "assistant"},
		Endpoints: []guardconfig.Endpoint{{Name: "gpt", Provider: guardconfig.OpenAI,
			Targets: []guardconfig.Target{{Name: "t", Weight: 100, URL: "http://127.0.0.1:1/v1"}}}},
	})
	if _, err := admin.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{guardconfig.ConfigMapKey: string(doc)},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	addrs := make(chan [2]string, 1)
	exit := make(chan int, 1)
	go func() {
		exit <- run(runCtx, []string{"--config-configmap", ns + "/" + name, "--kubeconfig", kubeconfigPath,
			"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, io.Discard, func(app, admin string) { addrs <- [2]string{app, admin} })
	}()
	a := <-addrs
	adminURL := "http://" + a[1]
	waitFor(t, func() bool { return get(t, adminURL+"/readyz") == 200 })

	// A bad edit is refused and counted; the guard stays ready on the last good config.
	if _, err := admin.CoreV1().ConfigMaps(ns).Update(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{guardconfig.ConfigMapKey: `{"apiVersion":"v0"}`},
	}, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		return strings.Contains(scrape(t, adminURL), `breakwater_guard_config_reloads_total{result="failure"} 1`)
	})
	if get(t, adminURL+"/readyz") != 200 {
		t.Error("a refused config made the guard unready")
	}
	cancel()
	if code := <-exit; code != 0 {
		t.Errorf("exit code %d", code)
	}
}

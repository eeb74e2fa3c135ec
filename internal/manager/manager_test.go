package manager

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/breakwater-dev/breakwater/internal/managermetrics"
	"github.com/breakwater-dev/breakwater/test/testenv"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestManagerServesProbesAndAuthenticatedMetrics starts the manager against a real API server and
// checks the probes, and that /metrics answers only callers the API server authenticates and
// authorizes through the metrics-reader ClusterRole of config/rbac.
func TestManagerServesProbesAndAuthenticatedMetrics(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })

	opts := Options{
		MetricsAddr: freeAddr(t), SecureMetrics: true, ProbeAddr: freeAddr(t),
		LeaderElect: true, LeaderElectionID: "breakwater-test", LeaderElectionNS: "default",
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		WebhookPort: 0, GracefulShutdownTime: 5 * time.Second,
	}
	mgr, err := New(env.Config, opts)
	if err != nil {
		t.Fatal(err)
	}
	// What SetupControllers registers for the control loops (calling it here too would register
	// the controllers' names twice in this process, beside rbac_test.go).
	if _, err := managermetrics.Default(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager stopped with an error: %v", err)
		}
	})

	probe := func(path string) int {
		resp, err := http.Get("http://" + opts.ProbeAddr + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return probe("/readyz") == http.StatusOK, nil
	}); err != nil {
		t.Fatalf("/readyz never answered 200: %v", err)
	}
	if code := probe("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", code)
	}

	// A reader ServiceAccount bound to config/rbac/metrics_reader_role.yaml, and one without it.
	cs := kubernetes.NewForConfigOrDie(env.Config)
	role := &rbacv1.ClusterRole{}
	data, err := os.ReadFile(filepath.Join(env.RepoRoot, "config", "rbac", "metrics_reader_role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, role); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	token := func(name string) string {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
		if _, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		tr, err := cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("requesting a token for %s: %v", name, err)
		}
		return tr.Status.Token
	}
	readerToken, strangerToken := token("prometheus"), token("stranger")
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-metrics-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "prometheus", Namespace: "default"}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The metrics server uses a self-signed certificate here; a cluster's Prometheus verifies it.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // self-signed in the test
	var body []byte
	metrics := func(token string) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://%s/metrics", opts.MetricsAddr), http.NoBody)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0 // the metrics server may still be starting
		}
		defer resp.Body.Close()
		body, _ = io.ReadAll(resp.Body)
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"a ServiceAccount without metrics-reader", strangerToken, http.StatusForbidden},
		{"a ServiceAccount bound to metrics-reader", readerToken, http.StatusOK},
	} {
		// The metrics server starts beside the caches, and RBAC changes reach the authorizer within
		// moments: wait for the expected answer.
		var got int
		_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			got = metrics(tc.token)
			return got == tc.want, nil
		})
		if got != tc.want {
			t.Errorf("%s: GET /metrics = %d, want %d", tc.name, got, tc.want)
		}
	}
	// The control loops' metrics are served there too (the source error counters start at zero).
	if want := `breakwater_manager_source_errors_total{source="prometheus"} 0`; !strings.Contains(string(body), want) {
		t.Errorf("GET /metrics does not serve %s", want)
	}
}

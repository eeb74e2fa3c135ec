package manager

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"

	"github.com/breakwater-dev/breakwater/test/testenv"
)

// TestSelfManagedWebhookCertificate runs the manager with --webhook-cert-management=self against a
// real API server: it must create the CA and serving certificate in its Secret, patch the caBundle of
// the webhook configuration from config/webhook, serve the injector with that certificate for the
// Service's DNS name, and only then report ready.
func TestSelfManagedWebhookCertificate(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	const ns = "breakwater-system"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	// config/webhook/secret.yaml ships the Secret empty; the manager fills it.
	if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "breakwater-webhook-server-cert"}}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(env.RepoRoot, "config", "webhook", "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := yaml.Unmarshal(data, mwc); err != nil {
		t.Fatal(err)
	}
	mwc.Name = "breakwater-mutating-webhook-configuration"
	mwc.Webhooks[0].ClientConfig.Service.Namespace = ns
	mwc.Webhooks[0].ClientConfig.Service.Name = "breakwater-webhook-service"
	// Nothing in this test answers admissions; keep pod creation elsewhere unaffected.
	ignore := admissionregistrationv1.Ignore
	mwc.Webhooks[0].FailurePolicy = &ignore
	if err := env.Client.Create(ctx, mwc); err != nil {
		t.Fatal(err)
	}

	port, err := strconv.Atoi(portOf(t, freeAddr(t)))
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		MetricsAddr: "0", ProbeAddr: freeAddr(t),
		WebhookHost: "127.0.0.1", WebhookPort: port, WebhookCertDir: t.TempDir(),
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		GracefulShutdownTime: 5 * time.Second,
		Namespace:            ns, CertManagement: CertsSelf,
		WebhookServiceName: "breakwater-webhook-service", WebhookSecretName: "breakwater-webhook-server-cert",
		WebhookConfigName: mwc.Name, GuardImage: "img",
	}
	mgr, err := New(env.Config, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := SetupWebhook(mgr, opts); err != nil {
		t.Fatal(err)
	}
	go playKubeletSecretVolume(ctx, t, env, types.NamespacedName{Namespace: ns, Name: opts.WebhookSecretName}, opts.WebhookCertDir)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager stopped with an error: %v", err)
		}
	})

	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		resp, err := http.Get("http://" + opts.ProbeAddr + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}); err != nil {
		resp, _ := http.Get("http://" + opts.ProbeAddr + "/readyz?verbose")
		var body []byte
		if resp != nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		t.Fatalf("the manager never became ready: %v\n%s", err, body)
	}

	secret := &corev1.Secret{}
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: opts.WebhookSecretName}, secret); err != nil {
		t.Fatalf("the certificate Secret: %v", err)
	}
	for _, key := range []string{"ca.crt", "ca.key", "tls.crt", "tls.key"} {
		if len(secret.Data[key]) == 0 {
			t.Errorf("Secret %s has no %s", secret.Name, key)
		}
	}
	var caBundle []byte
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		got := &admissionregistrationv1.MutatingWebhookConfiguration{}
		if err := env.Client.Get(ctx, types.NamespacedName{Name: mwc.Name}, got); err != nil {
			return false, err
		}
		caBundle = got.Webhooks[0].ClientConfig.CABundle
		return bytes.Equal(caBundle, secret.Data["ca.crt"]), nil
	}); err != nil {
		t.Fatalf("caBundle was not patched with the Secret's CA: %v", err)
	}

	// The webhook server presents a certificate the caBundle verifies, for the Service's DNS name:
	// what the API server checks before it sends an admission.
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caBundle) {
		t.Fatal("caBundle holds no certificate")
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		&tls.Config{RootCAs: pool, ServerName: "breakwater-webhook-service.breakwater-system.svc", MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS handshake with the webhook server: %v", err)
	}
	conn.Close()
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// playKubeletSecretVolume does what the kubelet does for the manager pod's Secret volume: once the
// manager filled the certificate Secret, its keys appear as files in the cert folder.
func playKubeletSecretVolume(ctx context.Context, t *testing.T, env *testenv.Env, key types.NamespacedName, dir string) {
	_ = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		secret := &corev1.Secret{}
		if err := env.Client.Get(ctx, key, secret); err != nil || len(secret.Data["tls.crt"]) == 0 {
			return false, nil
		}
		for name, data := range secret.Data {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
				t.Errorf("writing %s: %v", name, err)
			}
		}
		return true, nil
	})
}

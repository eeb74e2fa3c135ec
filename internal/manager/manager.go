// Package manager builds Breakwater's controller-runtime manager: scheme, health and readiness
// probes, an authenticated metrics endpoint and leader election. cmd/manager parses flags into
// Options; tests start the same manager against a real API server.
package manager

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/controllers"
	"github.com/breakwater-dev/breakwater/internal/sidecar"
)

// Options are the manager's settings; every field is a flag of cmd/manager (docs/manager.md).
type Options struct {
	MetricsAddr          string
	SecureMetrics        bool
	EnableHTTP2          bool
	ProbeAddr            string
	PprofAddr            string
	LeaderElect          bool
	LeaderElectionID     string
	LeaderElectionNS     string
	LeaseDuration        time.Duration
	RenewDeadline        time.Duration
	RetryPeriod          time.Duration
	WebhookHost          string
	WebhookPort          int
	WebhookCertDir       string
	GracefulShutdownTime time.Duration

	Namespace            string
	CertManagement       string
	WebhookServiceName   string
	WebhookSecretName    string
	WebhookConfigName    string
	GuardImage           string
	GuardImagePullPolicy corev1.PullPolicy

	// The admission store (docs/install.md, "Fleet-wide admission").
	AdmissionAddresses  string
	AdmissionMasterName string
	AdmissionUsername   string
	AdmissionSecret     string
	AdmissionTLS        bool
	AdmissionServerName string
	AdmissionTimeout    time.Duration
}

// AdmissionStore is the admission store the flags name, for controllers.Sources.
func (o Options) AdmissionStore() controllers.AdmissionStoreOptions {
	var addrs []string
	for a := range strings.SplitSeq(o.AdmissionAddresses, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	return controllers.AdmissionStoreOptions{
		Addresses: addrs, MasterName: o.AdmissionMasterName, Username: o.AdmissionUsername,
		SecretName: o.AdmissionSecret, SecretNamespace: o.Namespace,
		TLS: o.AdmissionTLS, ServerName: o.AdmissionServerName, Timeout: o.AdmissionTimeout,
	}
}

// BindFlags registers the options as flags with their defaults.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8443",
		"Address the metrics endpoint listens on, e.g. :8443 (HTTPS) or :8080 (with --metrics-secure=false); 0 turns it off.")
	fs.BoolVar(&o.SecureMetrics, "metrics-secure", true,
		"Serve metrics over HTTPS and only to callers the API server authenticates and authorizes (TokenReview and SubjectAccessReview for GET /metrics).")
	fs.BoolVar(&o.EnableHTTP2, "enable-http2", false,
		"Allow HTTP/2 on the metrics and webhook servers; off by default because of the HTTP/2 Rapid Reset and Stream Cancellation CVEs.")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz probes.")
	fs.StringVar(&o.PprofAddr, "pprof-bind-address", "0",
		"Address of Go's profiler (/debug/pprof/), e.g. 127.0.0.1:8082; 0 turns it off. Unauthenticated: bind it to loopback and port-forward.")
	fs.BoolVar(&o.LeaderElect, "leader-elect", false,
		"Elect a leader through a Lease so that only one replica acts; config/manager turns it on.")
	fs.StringVar(&o.LeaderElectionID, "leader-election-id", "breakwater-manager.breakwater.dev", "Name of the leader-election Lease.")
	fs.StringVar(&o.LeaderElectionNS, "leader-election-namespace", "",
		"Namespace of the leader-election Lease; empty means --namespace.")
	fs.DurationVar(&o.LeaseDuration, "leader-election-lease-duration", 15*time.Second, "How long a leader's Lease lasts without renewal.")
	fs.DurationVar(&o.RenewDeadline, "leader-election-renew-deadline", 10*time.Second, "How long the leader keeps trying to renew before it steps down.")
	fs.DurationVar(&o.RetryPeriod, "leader-election-retry-period", 2*time.Second, "How often candidates try to take the Lease.")
	fs.StringVar(&o.WebhookHost, "webhook-bind-host", "", "Address the webhook server binds to; empty means every interface.")
	fs.IntVar(&o.WebhookPort, "webhook-port", 9443, "Port of the admission webhook server.")
	fs.StringVar(&o.WebhookCertDir, "webhook-cert-dir", "/tmp/k8s-webhook-server/serving-certs",
		"Folder holding tls.crt and tls.key of the webhook server: the mounted certificate Secret (config/manager).")
	fs.StringVar(&o.Namespace, "namespace", ownNamespace(),
		"The manager's own namespace, where it keeps the webhook certificate Secret and the leader-election Lease.")
	fs.StringVar(&o.CertManagement, "webhook-cert-management", CertsSelf,
		"Who provides the webhook's serving certificate: self (the manager creates, stores and rotates it and patches the caBundle) or external (e.g. cert-manager writes it into --webhook-cert-dir).")
	fs.StringVar(&o.WebhookServiceName, "webhook-service-name", "breakwater-webhook-service", "Service in front of the webhook server; the certificate is issued for <service>.<namespace>.svc.")
	fs.StringVar(&o.WebhookSecretName, "webhook-secret-name", "breakwater-webhook-server-cert", "Secret that holds the self-managed CA and serving certificate.")
	fs.StringVar(&o.WebhookConfigName, "webhook-configuration-name", "breakwater-mutating-webhook-configuration",
		"MutatingWebhookConfiguration whose caBundle the manager keeps current with self-managed certificates.")
	fs.StringVar(&o.GuardImage, "guard-image", envOr("BREAKWATER_GUARD_IMAGE", "ghcr.io/breakwater-dev/breakwater:dev"),
		"Image of the injected guard (it runs /guard); config/default sets it to the manager's own image.")
	fs.StringVar((*string)(&o.GuardImagePullPolicy), "guard-image-pull-policy", string(corev1.PullIfNotPresent), "Pull policy of the injected guard: Always, IfNotPresent or Never.")
	fs.DurationVar(&o.GracefulShutdownTime, "graceful-shutdown-timeout", 30*time.Second,
		"How long running reconciles and servers get to finish on shutdown.")
	fs.StringVar(&o.AdmissionAddresses, "admission-store-addresses", "",
		"Redis (or Valkey, ElastiCache) the guards share TokenQuota budgets in, as comma-separated host:port: one for a "+
			"standalone server or a cluster's configuration endpoint, several for Redis Cluster seeds or Sentinels. "+
			"Empty: no store, and TokenQuotas are enforced locally by each guard on its share.")
	fs.StringVar(&o.AdmissionMasterName, "admission-store-master-name", "", "Sentinel master name; set it to use Sentinel.")
	fs.StringVar(&o.AdmissionUsername, "admission-store-username", "", "Redis ACL user name; empty: the default user.")
	fs.StringVar(&o.AdmissionSecret, "admission-store-secret", "",
		"Secret in --namespace with the store's AUTH password (key password) and the CA that verifies its TLS "+
			"certificate (key ca.crt); both keys optional. The manager copies it next to each GenAIWorkload for the guards.")
	fs.BoolVar(&o.AdmissionTLS, "admission-store-tls", false, "Connect to the store with TLS (ElastiCache in-transit encryption).")
	fs.StringVar(&o.AdmissionServerName, "admission-store-server-name", "", "Name to verify in the store's TLS certificate; empty: the address's host.")
	fs.DurationVar(&o.AdmissionTimeout, "admission-store-timeout", 10*time.Millisecond,
		"Longest a guard waits on the store for one reservation; past it the guard enforces its local share.")
}

// managedByBreakwater selects the objects the reconcilers create.
var managedByBreakwater = labels.SelectorFromSet(labels.Set{controllers.LabelManagedBy: controllers.ManagedByValue})

// injectedPods selects the pods the webhook injected: the manager never caches other pods.
var injectedPods = func() labels.Selector {
	req, err := labels.NewRequirement(sidecar.WorkloadLabel, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant key: cannot fail
	}
	return labels.NewSelector().Add(*req)
}()

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// Scheme returns a scheme with the Kubernetes kinds and Breakwater's.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := breakwaterv1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// New builds the manager with probes, metrics and leader election. Controllers and the webhook are
// added by their own packages.
func New(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	s, err := Scheme()
	if err != nil {
		return nil, err
	}
	var tlsOpts []func(*tls.Config)
	if !o.EnableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{
		BindAddress:   o.MetricsAddr,
		SecureServing: o.SecureMetrics,
		TLSOpts:       tlsOpts,
	}
	if o.SecureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	if o.LeaderElectionNS == "" {
		o.LeaderElectionNS = o.Namespace
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: s,
		// The manager reads Secrets only in its own namespace (the webhook certificate), so its
		// RBAC needs no cluster-wide access to Secrets; and it reads only the ConfigMaps, Roles
		// and RoleBindings it writes, so it caches only those, not every one in the cluster.
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}:      {Namespaces: map[string]cache.Config{o.Namespace: {}}},
			&corev1.Pod{}:         {Label: injectedPods},
			&corev1.ConfigMap{}:   {Label: managedByBreakwater},
			&rbacv1.Role{}:        {Label: managedByBreakwater},
			&rbacv1.RoleBinding{}: {Label: managedByBreakwater},
		}},
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        o.ProbeAddr,
		PprofBindAddress:              o.PprofAddr,
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              o.LeaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNS,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &o.LeaseDuration,
		RenewDeadline:                 &o.RenewDeadline,
		RetryPeriod:                   &o.RetryPeriod,
		GracefulShutdownTimeout:       &o.GracefulShutdownTime,
		WebhookServer: webhook.NewServer(webhook.Options{
			Host:    o.WebhookHost,
			Port:    o.WebhookPort,
			CertDir: o.WebhookCertDir,
			TLSOpts: tlsOpts,
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding the health check: %w", err)
	}
	// Ready once the informer caches have synced, so a new replica is not sent traffic (webhook
	// calls) before it can answer from the cache.
	if err := mgr.AddReadyzCheck("readyz", func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return errors.New("informer caches not synced")
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("adding the readiness check: %w", err)
	}
	return mgr, nil
}

package manager

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/breakwater-dev/breakwater/internal/sidecar"
	"github.com/breakwater-dev/breakwater/internal/webhook"
)

// Certificate management modes of --webhook-cert-management.
const (
	// CertsSelf: the manager creates a CA and serving certificate, keeps them in a Secret, patches
	// the webhook configuration's caBundle and rotates both before they expire.
	CertsSelf = "self"
	// CertsExternal: something else (cert-manager, see config/certmanager) writes the certificate
	// into --webhook-cert-dir and the caBundle.
	CertsExternal = "external"
)

// The rotator keeps its CA and certificate in a Secret in the manager's namespace and patches the
// caBundle of the guard injector's configuration.
// +kubebuilder:rbac:groups="",namespace=breakwater-system,resources=secrets,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations,verbs=get;list;watch;update;patch

// SetupWebhook serves the guard injector once its certificate is in place: at once with external
// certificates, after the rotator wrote the certificate with self-managed ones. The manager is ready
// (/readyz) only when the webhook server is serving, so no admission reaches a replica that cannot
// answer it.
func SetupWebhook(mgr ctrl.Manager, o Options) error {
	certsReady := make(chan struct{})
	switch o.CertManagement {
	case CertsSelf:
		service := fmt.Sprintf("%s.%s.svc", o.WebhookServiceName, o.Namespace)
		err := rotator.AddRotator(mgr, &rotator.CertRotator{
			SecretKey:      types.NamespacedName{Namespace: o.Namespace, Name: o.WebhookSecretName},
			CertDir:        o.WebhookCertDir,
			CAName:         "breakwater-webhook-ca",
			CAOrganization: "breakwater",
			DNSName:        service,
			ExtraDNSNames:  []string{service + ".cluster.local"},
			IsReady:        certsReady,
			Webhooks:       []rotator.WebhookInfo{{Name: o.WebhookConfigName, Type: rotator.Mutating}},
			// Every replica serves the webhook, so every replica needs the certificate on disk.
			RequireLeaderElection: false,
		})
		if err != nil {
			return fmt.Errorf("setting up webhook certificate rotation: %w", err)
		}
	case CertsExternal:
		close(certsReady)
	default:
		return fmt.Errorf("--webhook-cert-management must be %q or %q, not %q", CertsSelf, CertsExternal, o.CertManagement)
	}
	injector := sidecar.Options{Image: o.GuardImage, ImagePullPolicy: o.GuardImagePullPolicy,
		AdmissionSecret: o.AdmissionStore().Enabled() && o.AdmissionSecret != ""}
	go func() {
		<-certsReady
		webhook.Setup(mgr, injector)
	}()
	return mgr.AddReadyzCheck("webhook", func(req *http.Request) error {
		select {
		case <-certsReady:
			return mgr.GetWebhookServer().StartedChecker()(req)
		default:
			return errors.New("webhook certificate not ready")
		}
	})
}

// ownNamespace is the namespace the manager runs in: POD_NAMESPACE (set from the downward API in
// config/manager), else the service account's namespace file, else breakwater-system.
func ownNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if data, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		return strings.TrimSpace(string(data))
	}
	return "breakwater-system"
}

// Package testenv starts a real kube-apiserver and etcd (controller-runtime envtest) with Breakwater's
// CRDs installed, for tests of anything the API server checks: CEL rules, defaults, printer columns,
// RBAC, webhooks.
//
// The control-plane binaries come from hack/envtest-assets.sh; `make test` exports KUBEBUILDER_ASSETS.
// When it is not set, the folder the script caches them in is used if it exists, so a plain `go test`
// works after one `make test`.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

// K8sVersion is the control-plane version hack/envtest-assets.sh provides by default.
const K8sVersion = "1.37.2"

// Env is a running control plane with the CRDs installed.
type Env struct {
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Client is a controller-runtime client for the Kubernetes and Breakwater kinds.
	Client ctrlclient.Client
	// Scheme knows the Kubernetes and Breakwater kinds.
	Scheme *k8sruntime.Scheme
	// Codecs decode manifests of those kinds.
	Codecs serializer.CodecFactory
	// RepoRoot is the repository's top folder.
	RepoRoot string

	env *envtest.Environment
}

// Start starts kube-apiserver and etcd, installs config/crd/bases and waits until the CRDs are served.
// Call Stop when done (TestMain is the usual place).
func Start() (*Env, error) { return start(false) }

// StartWithCRDs is Start plus the CRDs in the given files or folders (for example a stand-in of a
// third-party CRD such as KEDA's ScaledObject), given relative to the repository root.
func StartWithCRDs(paths ...string) (*Env, error) { return start(false, paths...) }

// StartWithWebhooks is Start plus the admission webhooks of config/webhook/manifests.yaml, pointed at
// a local webhook server: serve it on Webhook().LocalServingHost, LocalServingPort and
// LocalServingCertDir.
func StartWithWebhooks() (*Env, error) { return start(true) }

// Webhook holds where the API server expects the webhook server.
func (e *Env) Webhook() envtest.WebhookInstallOptions { return e.env.WebhookInstallOptions }

func start(webhooks bool, extraCRDs ...string) (*Env, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	if err := useCachedAssets(root); err != nil {
		return nil, err
	}
	s := k8sruntime.NewScheme()
	if err := scheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := breakwaterv1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     crdPaths(root, extraCRDs),
		ErrorIfCRDPathMissing: true,
		Scheme:                s,
	}
	if webhooks {
		env.WebhookInstallOptions = envtest.WebhookInstallOptions{
			Paths: []string{filepath.Join(root, "config", "webhook", "manifests.yaml")},
		}
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd from %s: %w", os.Getenv("KUBEBUILDER_ASSETS"), err)
	}
	c, err := ctrlclient.New(cfg, ctrlclient.Options{Scheme: s})
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	return &Env{Config: cfg, Client: c, Scheme: s, Codecs: serializer.NewCodecFactory(s), RepoRoot: root, env: env}, nil
}

func crdPaths(root string, extra []string) []string {
	paths := []string{filepath.Join(root, "config", "crd", "bases")}
	for _, p := range extra {
		paths = append(paths, filepath.Join(root, p))
	}
	return paths
}

// Stop stops the API server and etcd.
func (e *Env) Stop() error { return e.env.Stop() }

// RepoRoot finds the repository's top folder: the nearest parent of this source file holding go.mod.
func RepoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the testenv source file")
	}
	for dir := filepath.Dir(file); ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		if dir == filepath.Dir(dir) {
			return "", errors.New("no go.mod above " + file)
		}
	}
}

// useCachedAssets points KUBEBUILDER_ASSETS at the folder hack/envtest-assets.sh caches the binaries
// in, when the variable is not set.
func useCachedAssets(root string) error {
	if os.Getenv("KUBEBUILDER_ASSETS") != "" {
		return nil
	}
	dir := filepath.Join(root, "bin", "k8s", fmt.Sprintf("%s-%s-%s", K8sVersion, runtime.GOOS, runtime.GOARCH))
	if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err != nil {
		return fmt.Errorf("no control-plane binaries: KUBEBUILDER_ASSETS is not set and %s has none; run `make test` (or hack/envtest-assets.sh) once", dir)
	}
	return os.Setenv("KUBEBUILDER_ASSETS", dir)
}

// AdminKubeconfig returns a kubeconfig for a cluster administrator (system:masters), for kubectl
// and for processes such as the manager binary run against this control plane.
func (e *Env) AdminKubeconfig() ([]byte, error) {
	user, err := e.env.ControlPlane.AddUser(envtest.User{Name: "breakwater-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, err
	}
	return user.KubeConfig()
}

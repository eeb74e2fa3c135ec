package chart

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/breakwater-dev/breakwater/test/testenv"
)

// clusterKubeconfigEnv names a kubeconfig of a cluster that runs pods (kube-controller-manager,
// kube-scheduler and kwok nodes): with it the install test installs there and also waits for the
// manager's Deployment to become available after the install and after the upgrade. Without it the
// test starts a bare kube-apiserver and etcd (envtest), where nothing creates pods.
const clusterKubeconfigEnv = "BREAKWATER_CLUSTER_KUBECONFIG"

const (
	releaseNamespace = "breakwater-system"
	deploymentName   = "breakwater-controller-manager"
)

// TestInstallAndUpgrade installs the chart with `helm install` onto a real API server, checks what
// was created (CRDs served, the Deployment, the webhook configuration, RBAC that lets the manager's
// ServiceAccount act), plays the manager's part by writing the webhook's CA bundle and certificate
// Secret, upgrades with changed values, checks that the Deployment follows and that the upgrade kept
// what the manager wrote, and uninstalls.
func TestInstallAndUpgrade(t *testing.T) {
	kubeconfig, c, realCluster := cluster(t)
	ctx := context.Background()
	helmKube := []string{"--kubeconfig", kubeconfig, "--namespace", releaseNamespace}

	mustHelm(t, append([]string{"install", "breakwater", "charts/breakwater", "--create-namespace",
		"--set", "image.repository=registry.example.com/platform/breakwater", "--set", "image.tag=v0.1.0"}, helmKube...)...)
	t.Cleanup(func() {
		_, _ = helm(t, append([]string{"uninstall", "breakwater", "--ignore-not-found"}, helmKube...)...)
	})

	for _, name := range []string{"failoverpolicies", "genaiworkloads", "modelendpoints", "retrievalbackends", "tokenquotas"} {
		waitFor(t, "CRD "+name+".breakwater.dev established", func() (bool, error) {
			var crd apiextensionsv1.CustomResourceDefinition
			if err := c.Get(ctx, types.NamespacedName{Name: name + ".breakwater.dev"}, &crd); err != nil {
				return false, client.IgnoreNotFound(err)
			}
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
	}

	d := deployment(t, c)
	if *d.Spec.Replicas != 3 {
		t.Errorf("replicas = %d, want 3 (the production overlay's)", *d.Spec.Replicas)
	}
	args := d.Spec.Template.Spec.Containers[0].Args
	for _, a := range []string{"--leader-elect", "--prometheus-url=http://prometheus-operated.monitoring.svc:9090",
		"--evaluation-interval=30s", "--guard-image=registry.example.com/platform/breakwater:v0.1.0"} {
		if !slices.Contains(args, a) {
			t.Errorf("the manager's args %q lack %s", args, a)
		}
	}

	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := c.Get(ctx, types.NamespacedName{Name: "breakwater-mutating-webhook-configuration"}, &mwc); err != nil {
		t.Fatal(err)
	}
	if len(mwc.Webhooks) != 1 || mwc.Webhooks[0].ClientConfig.Service == nil ||
		mwc.Webhooks[0].ClientConfig.Service.Namespace != releaseNamespace ||
		mwc.Webhooks[0].ClientConfig.Service.Name != "breakwater-webhook-service" {
		t.Fatalf("the webhook does not call breakwater-webhook-service in %s: %+v", releaseNamespace, mwc.Webhooks)
	}

	// The bindings bind: the API server's authorizer lets the manager's ServiceAccount do what its
	// reconcilers and the certificate rotation do.
	sa := "system:serviceaccount:" + releaseNamespace + ":breakwater-controller-manager"
	for _, ra := range []authorizationv1.ResourceAttributes{
		{Group: "apps", Resource: "deployments", Subresource: "scale", Verb: "patch", Namespace: "shop"},
		{Group: "breakwater.dev", Resource: "tokenquotas", Subresource: "status", Verb: "update", Namespace: "shop"},
		{Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations", Verb: "update"},
		{Resource: "secrets", Verb: "update", Namespace: releaseNamespace},
		{Group: "coordination.k8s.io", Resource: "leases", Verb: "update", Namespace: releaseNamespace},
	} {
		if !allowed(t, c, sa, ra) {
			t.Errorf("the manager's ServiceAccount may not %s %s/%s in %q", ra.Verb, ra.Resource, ra.Subresource, ra.Namespace)
		}
	}
	if allowed(t, c, sa, authorizationv1.ResourceAttributes{Resource: "secrets", Verb: "get", Namespace: "shop"}) {
		t.Error("the manager's ServiceAccount may read Secrets outside its namespace")
	}

	// What the manager writes with certificates.mode=self: the CA bundle and the Secret's data.
	mwc.Webhooks[0].ClientConfig.CABundle = []byte("ca-bundle")
	if err := c.Update(ctx, &mwc); err != nil {
		t.Fatal(err)
	}
	var secret corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: releaseNamespace, Name: "breakwater-webhook-server-cert"}, &secret); err != nil {
		t.Fatal(err)
	}
	secret.Data = map[string][]byte{"tls.crt": []byte("crt"), "tls.key": []byte("key"), "ca.crt": []byte("ca")}
	if err := c.Update(ctx, &secret); err != nil {
		t.Fatal(err)
	}
	if realCluster {
		waitAvailable(t, c, 3)
	}

	mustHelm(t, append([]string{"upgrade", "breakwater", "charts/breakwater", "--reuse-values",
		"--set", "replicas=2", "--set", "evaluationInterval=1m", "--set", "image.tag=v0.2.0"}, helmKube...)...)
	d = deployment(t, c)
	if *d.Spec.Replicas != 2 {
		t.Errorf("after the upgrade replicas = %d, want 2", *d.Spec.Replicas)
	}
	args = d.Spec.Template.Spec.Containers[0].Args
	for _, a := range []string{"--evaluation-interval=1m", "--guard-image=registry.example.com/platform/breakwater:v0.2.0"} {
		if !slices.Contains(args, a) {
			t.Errorf("after the upgrade the manager's args %q lack %s", args, a)
		}
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "registry.example.com/platform/breakwater:v0.2.0" {
		t.Errorf("after the upgrade the manager's image = %s", img)
	}
	if err := c.Get(ctx, types.NamespacedName{Name: mwc.Name}, &mwc); err != nil {
		t.Fatal(err)
	}
	if string(mwc.Webhooks[0].ClientConfig.CABundle) != "ca-bundle" {
		t.Errorf("the upgrade dropped the webhook's caBundle the manager wrote: %q", mwc.Webhooks[0].ClientConfig.CABundle)
	}
	if err := c.Get(ctx, types.NamespacedName{Namespace: releaseNamespace, Name: secret.Name}, &secret); err != nil {
		t.Fatal(err)
	}
	if string(secret.Data["tls.crt"]) != "crt" {
		t.Errorf("the upgrade dropped the certificate Secret's data the manager wrote: %v", secret.Data)
	}
	if realCluster {
		waitAvailable(t, c, 2)
	}

	mustHelm(t, append([]string{"uninstall", "breakwater"}, helmKube...)...)
	if err := c.Get(ctx, types.NamespacedName{Namespace: releaseNamespace, Name: deploymentName}, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("after helm uninstall the Deployment is still there: %v", err)
	}
	// Helm never deletes the CRDs of crds/ (and with them every Breakwater object).
	if err := c.Get(ctx, types.NamespacedName{Name: "genaiworkloads.breakwater.dev"}, &apiextensionsv1.CustomResourceDefinition{}); err != nil {
		t.Errorf("helm uninstall removed the CRDs: %v", err)
	}
}

// cluster returns a kubeconfig file and a client of the cluster to install on: the one named by
// $BREAKWATER_CLUSTER_KUBECONFIG, or a new kube-apiserver and etcd with nothing installed.
func cluster(t *testing.T) (kubeconfig string, c client.Client, existing bool) {
	t.Helper()
	s := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if kubeconfig = os.Getenv(clusterKubeconfigEnv); kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			t.Fatalf("$%s: %v", clusterKubeconfigEnv, err)
		}
		c, err := client.New(cfg, client.Options{Scheme: s})
		if err != nil {
			t.Fatal(err)
		}
		return kubeconfig, c, true
	}

	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Setenv("KUBEBUILDER_ASSETS", filepath.Join(repoRoot(t), "bin", "k8s",
			fmt.Sprintf("%s-%s-%s", testenv.K8sVersion, runtime.GOOS, runtime.GOARCH)))
	}
	// No CRDs: the chart installs them.
	env := &envtest.Environment{Scheme: s}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd from %s (run `make envtest`): %v", os.Getenv("KUBEBUILDER_ASSETS"), err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "helm-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	return kubeconfig, c, false
}

func deployment(t *testing.T, c client.Client) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: releaseNamespace, Name: deploymentName}, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

func allowed(t *testing.T, c client.Client, user string, ra authorizationv1.ResourceAttributes) bool {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               user,
		Groups:             []string{"system:serviceaccounts", "system:authenticated"},
		ResourceAttributes: &ra,
	}}
	if err := c.Create(context.Background(), sar); err != nil {
		t.Fatal(err)
	}
	return sar.Status.Allowed
}

// waitAvailable waits until the rollout of the manager's Deployment is complete with replicas
// ready pods: only a cluster that runs pods gets there.
func waitAvailable(t *testing.T, c client.Client, replicas int32) {
	t.Helper()
	waitFor(t, fmt.Sprintf("the manager's Deployment rolled out with %d ready replicas", replicas), func() (bool, error) {
		d := deployment(t, c)
		return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == replicas &&
			d.Status.ReadyReplicas == replicas && d.Status.Replicas == replicas, nil
	})
}

// waitFor polls cond; the bound only ends a hung test, no assertion depends on it.
func waitFor(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 3*time.Minute, true,
		func(context.Context) (bool, error) { return cond() })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// Command devcluster runs a local Kubernetes control plane (kube-apiserver and etcd from
// hack/envtest-assets.sh) with Breakwater's CRDs and guard-injection webhook configuration installed,
// writes an administrator kubeconfig, prints the manager flags that serve the webhook for it, and
// runs until interrupted. No cluster, container runtime or internet is needed: it is what
// `make dev-cluster` and the demo stand on. Nothing runs pods: create them through the API server
// and the webhook injects them; controllers for Deployments are not running.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/breakwater-dev/breakwater/test/testenv"
)

func main() {
	kubeconfig := flag.String("kubeconfig-out", "bin/dev/kubeconfig", "Where to write the administrator kubeconfig.")
	flag.Parse()
	if err := run(*kubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster:", err)
		os.Exit(1)
	}
}

func run(kubeconfigPath string) error {
	env, err := testenv.StartWithWebhooks()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	kc, err := env.AdminKubeconfig()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(kubeconfigPath), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(kubeconfigPath, kc, 0o600); err != nil {
		return err
	}
	wh := env.Webhook()
	fmt.Printf("kubeconfig: %s\n", kubeconfigPath)
	fmt.Printf("manager flags: --kubeconfig=%s --namespace=default --leader-elect=false --metrics-bind-address=0 "+
		"--health-probe-bind-address=127.0.0.1:8081 --webhook-cert-management=external --webhook-bind-host=%s "+
		"--webhook-port=%d --webhook-cert-dir=%s\n", kubeconfigPath, wh.LocalServingHost, wh.LocalServingPort, wh.LocalServingCertDir)
	fmt.Println("ready; Ctrl-C stops the control plane")

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	return nil
}

// Command demo is `make demo`: it starts the whole of Breakwater on this machine (control plane,
// manager with its webhook, Prometheus, the upstream simulator, one guard per workload and their
// load), plays the scripted incident of test/e2e/harness, prints what a person would look at after
// each step and a timeline of trigger-to-reaction times, and stops everything it started. It exits
// non-zero when an expected transition did not happen.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/breakwater-dev/breakwater/test/e2e/harness"
	"github.com/breakwater-dev/breakwater/test/testenv"
)

func main() {
	work := flag.String("work-dir", "", "folder for binaries, logs and generated files (default bin/demo)")
	keep := flag.Bool("keep-running", false, "after the story, keep everything running until Ctrl-C (kubectl --kubeconfig <work-dir>/kubeconfig)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, *work, *keep)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, work string, keep bool) int {
	if work == "" {
		root, err := testenv.RepoRoot()
		if err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			return 1
		}
		work = filepath.Join(root, "bin", "demo")
	}
	began := time.Now()
	fmt.Printf("Breakwater demo: everything runs on this machine; logs in %s/logs\n\n", work)
	sys, err := harness.Start(ctx, harness.Options{WorkDir: work, Out: os.Stdout})
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	defer sys.Stop()
	fmt.Printf("\nEverything is up after %.0fs. kubectl: %s --kubeconfig %s get breakwater -n %s\n",
		time.Since(began).Seconds(), "kubectl", sys.Kubeconfig, harness.Namespace)

	tl, storyErr := sys.Story(ctx, os.Stdout)
	sys.StopLoad()
	fmt.Printf("\n=== Timeline (seconds from the story's start; trigger→reaction)\n")
	tl.Print(os.Stdout)
	fmt.Printf("\n=== Requests (every one sent has an outcome; lost = no HTTP answer)\n")
	sys.Summary(os.Stdout)
	code := 0
	if lost := sys.Lost(); len(lost) > 0 {
		fmt.Printf("\nLOST REQUESTS: %v\n", lost)
		code = 1
	}
	if out, err := sys.Kubectl(ctx, "get", "breakwater", "-A"); err == nil {
		fmt.Printf("\n$ kubectl get breakwater -A\n%s", out)
	}
	if storyErr != nil {
		fmt.Fprintf(os.Stderr, "\ndemo: FAILED: %v\nmanager log: %s\n", storyErr, sys.ManagerLog())
		code = 1
	} else {
		fmt.Printf("\nDemo finished: every expected transition happened (%.0fs in all).\n", time.Since(began).Seconds())
	}
	if keep {
		fmt.Println("Everything keeps running; Ctrl-C stops it.")
		<-ctx.Done()
	}
	return code
}

// Package e2e is the end-to-end suite: the whole system of test/e2e/harness (control plane, manager,
// webhook, Prometheus, simulator, guard processes, load) plays the demo's story, and the test checks
// every transition plus what the story cannot show on screen: no request lost across weight shifts
// and config reloads, token counts that agree from the simulator to Prometheus, and guard
// credentials that read nothing but their own config.
package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/breakwater-dev/breakwater/internal/sidecar"
	"github.com/breakwater-dev/breakwater/test/e2e/harness"
)

func TestStory(t *testing.T) {
	if testing.Short() {
		t.Skip("the end-to-end story takes a few minutes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	work := t.TempDir()
	var log strings.Builder
	sys, err := harness.Start(ctx, harness.Options{WorkDir: work, Out: &log})
	if err != nil {
		t.Fatalf("starting the system: %v\n%s", err, log.String())
	}
	defer sys.Stop()
	defer func() {
		if t.Failed() {
			dumpLogs(t, work)
		}
	}()

	tl, storyErr := sys.Story(ctx, &log)
	sys.StopLoad()
	t.Logf("story output:\n%s", log.String())
	var table strings.Builder
	tl.Print(&table)
	t.Logf("timeline:\n%s", table.String())
	if storyErr != nil {
		t.Fatalf("story: %v", storyErr)
	}

	t.Run("every transition happened in order", func(t *testing.T) {
		want := []string{harness.TGuardsFailOver, harness.TManagerShifts, harness.TAllOnBackup, harness.TFailbackStarts,
			harness.TFailbackDone, harness.TQuotaWarning, harness.TClampLowered, harness.TQuotaShedding,
			harness.TSheddableScaled, harness.TStandardScaled, harness.TQuotaNormal, harness.TStandardRestored,
			harness.TSheddableRestored, harness.TBurstRefused, harness.TBurstHeld,
			harness.TBurstRestored}
		if len(tl.Transitions) != len(want) {
			t.Fatalf("%d transitions, want %d", len(tl.Transitions), len(want))
		}
		for i, w := range want {
			if tl.Transitions[i].Name != w {
				t.Errorf("transition %d is %q, want %q", i, tl.Transitions[i].Name, w)
			}
			if i > 0 && tl.Transitions[i].Reaction.Before(tl.Transitions[i-1].Reaction) {
				t.Errorf("%q happened before %q", w, want[i-1])
			}
		}
	})

	t.Run("critical workload never scaled, every workload restored", func(t *testing.T) {
		for _, w := range harness.Workloads {
			n, err := sys.Replicas(ctx, w.Name)
			if err != nil {
				t.Fatal(err)
			}
			if n != w.Replicas {
				t.Errorf("%s has %d replicas at the end, want %d", w.Name, n, w.Replicas)
			}
		}
		if m := tl.MinReplicas["checkout-assistant"]; m != 2 {
			t.Errorf("the critical workload went down to %d replicas", m)
		}
	})

	t.Run("no request lost across weight shifts and config reloads", func(t *testing.T) {
		if lost := sys.Lost(); len(lost) > 0 {
			t.Errorf("requests without an HTTP answer: %v", lost)
		}
		// The story reloaded every guard's config many times under load (weights, quota state,
		// clamp); the requests above were in flight across those reloads.
		vec, err := sys.Query(ctx, `min(breakwater_guard_config_reloads_total{result="success"})`)
		if err != nil || len(vec) != 1 {
			t.Fatalf("reading config reloads: %v %v", vec, err)
		}
		if got := float64(vec[0].Value); got < 5 {
			t.Errorf("the least-reloaded guard reloaded %g times during the story; want at least 5 for this check to mean anything", got)
		}
		for _, w := range harness.Workloads {
			c := sys.Loads[w.Name].Snapshot()
			for outcome := range c.Outcomes {
				if strings.HasPrefix(outcome, "error:") {
					t.Errorf("%s: %d answers without X-Breakwater-Reason (%s): every error the guard gives says why", w.Name, c.Outcomes[outcome], outcome)
				}
			}
		}
	})

	t.Run("token counts agree: simulator, Prometheus, application", func(t *testing.T) {
		var served int64
		for _, sim := range sys.Sims {
			st := sim.Stats()
			served += st.InputTokens + st.OutputTokens
		}
		var app int64
		for _, l := range sys.Loads {
			app += l.Snapshot().Tokens
		}
		var inProm float64
		err := waitUntil(ctx, 15*time.Second, func() bool {
			vec, err := sys.Query(ctx, `sum(breakwater_guard_tokens_total)`)
			if err != nil || len(vec) != 1 {
				return false
			}
			inProm = float64(vec[0].Value)
			return int64(inProm) == served
		})
		if err != nil {
			t.Errorf("Prometheus counts %.0f tokens, the simulator served %d", inProm, served)
		}
		if app != served {
			t.Errorf("the applications were answered %d tokens, the simulator served %d", app, served)
		}
		t.Logf("tokens: simulator %d, Prometheus %.0f, applications %d", served, inProm, app)
	})

	t.Run("no prompt or completion text in logs, metrics, Events or status", func(t *testing.T) {
		haystacks := map[string]string{}
		logs, _ := filepath.Glob(filepath.Join(work, "logs", "*.log"))
		for _, p := range logs {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			haystacks[filepath.Base(p)] = string(b)
		}
		for name, g := range sys.Guards {
			haystacks["metrics of guard "+name] = httpGet(t, g.AdminURL+"/metrics")
		}
		haystacks["manager metrics"] = httpGet(t, sys.ManagerURL+"/metrics")
		haystacks["Events"] = strings.Join(sys.EventsSince(ctx, time.Time{}), "\n")
		status, err := sys.Kubectl(ctx, "get", "breakwater,configmaps", "-A", "-o", "yaml")
		if err != nil {
			t.Fatalf("kubectl: %v\n%s", err, status)
		}
		haystacks["objects and their status"] = status
		if len(logs) < 4 || haystacks["Events"] == "" {
			t.Fatalf("only %d logs and %d bytes of Events to search", len(logs), len(haystacks["Events"]))
		}
		for where, text := range haystacks {
			for _, needle := range append(harness.PromptTexts, harness.CompletionText) {
				if strings.Contains(text, needle) {
					t.Errorf("%s contains %q", where, needle)
				}
			}
		}
	})

	t.Run("guard credentials read their own config and nothing else", func(t *testing.T) {
		own, other := harness.Workloads[0].Name, harness.Workloads[1].Name
		cs := clientFor(t, sys.Guards[own].Kubeconfig)
		if _, err := cs.CoreV1().ConfigMaps(harness.Namespace).Get(ctx, sidecar.ConfigMapName(own), metav1.GetOptions{}); err != nil {
			t.Errorf("the guard of %s cannot read its own config: %v", own, err)
		}
		forbidden := map[string]error{}
		_, forbidden["get another workload's ConfigMap"] = cs.CoreV1().ConfigMaps(harness.Namespace).Get(ctx, sidecar.ConfigMapName(other), metav1.GetOptions{})
		_, forbidden["list ConfigMaps"] = cs.CoreV1().ConfigMaps(harness.Namespace).List(ctx, metav1.ListOptions{})
		_, forbidden["list Secrets"] = cs.CoreV1().Secrets(harness.Namespace).List(ctx, metav1.ListOptions{})
		_, forbidden["get a Secret"] = cs.CoreV1().Secrets(harness.Namespace).Get(ctx, "any", metav1.GetOptions{})
		_, forbidden["list Secrets in the manager's namespace"] = cs.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
		_, forbidden["list ConfigMaps cluster-wide"] = cs.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{})
		for what, err := range forbidden {
			if !apierrors.IsForbidden(err) {
				t.Errorf("%s with the guard's credentials: got %v, want Forbidden", what, err)
			}
		}
	})
}

func clientFor(t *testing.T, kubeconfig string) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

func waitUntil(ctx context.Context, timeout time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil
}

// dumpLogs prints the tail of every process log, so a CI failure says what each process saw.
func dumpLogs(t *testing.T, work string) {
	logs, _ := filepath.Glob(filepath.Join(work, "logs", "*.log"))
	for _, p := range logs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		t.Logf("--- last lines of %s:\n%s", filepath.Base(p), strings.Join(lines, "\n"))
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/test/upstreamsim"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--config-file", "/etc/guard/guard.json"}, ""},
		{[]string{"--config-configmap", "shop/assistant-guard"}, ""},
		{nil, "set exactly one of --config-file and --config-configmap"},
		{[]string{"--config-file", "a", "--config-configmap", "b/c"}, "set exactly one of --config-file and --config-configmap"},
		{[]string{"--config-configmap", "no-namespace"}, `--config-configmap must be namespace/name, got "no-namespace"`},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args, io.Discard)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.wantErr {
			t.Errorf("parseFlags(%q) error = %q, want %q", tt.args, got, tt.wantErr)
		}
	}
}

// syncBuffer collects logs written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunServesReloadsAndDrains(t *testing.T) {
	sim, err := upstreamsim.Start(upstreamsim.Options{APIKey: "sk-up", OutputTokens: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte("sk-up"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := func(maxOut int64) []byte {
		c := guardconfig.Config{
			APIVersion: guardconfig.APIVersion,
			Workload:   guardconfig.Workload{Namespace: "shop", Name: "assistant"},
			Endpoints: []guardconfig.Endpoint{{Name: "gpt", Provider: guardconfig.OpenAI,
				Targets: []guardconfig.Target{{Name: "sim", Weight: 100, URL: sim.URL() + "/v1", APIKeyFile: keyFile}},
				Limits:  guardconfig.Limits{MaxOutputTokens: maxOut}}},
		}
		b, _ := json.Marshal(c)
		return b
	}
	cfgPath := filepath.Join(dir, "guard.json")
	if err := os.WriteFile(cfgPath, doc(100), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan [2]string, 1)
	exit := make(chan int, 1)
	logs := &syncBuffer{}
	go func() {
		exit <- run(ctx, []string{"--config-file", cfgPath, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
			"--config-poll-interval", "10ms", "--shutdown-timeout", "20s"}, logs, func(app, admin string) { addrs <- [2]string{app, admin} })
	}()
	a := <-addrs
	app, admin := "http://"+a[0], "http://"+a[1]
	waitFor(t, func() bool { return get(t, admin+"/readyz") == 200 })

	resp, err := http.Post(app+"/m/gpt/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"usage"`) {
		t.Fatalf("chat through the guard: %d %s", resp.StatusCode, body)
	}

	// A changed file is reloaded; a broken one is refused and counted.
	if err := os.WriteFile(cfgPath, []byte(`{"apiVersion":"nope"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		return strings.Contains(scrape(t, admin), `breakwater_guard_config_reloads_total{result="failure"} 1`)
	})
	if err := os.WriteFile(cfgPath, doc(2), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		return strings.Contains(scrape(t, admin), `breakwater_guard_config_reloads_total{result="success"} 2`)
	})
	if get(t, admin+"/readyz") != 200 {
		t.Error("not ready after reloads")
	}
	m := scrape(t, admin)
	for _, want := range []string{
		`breakwater_guard_requests_total{endpoint="gpt",outcome="success",target="sim"} 1`,
		`breakwater_guard_tokens_total{endpoint="gpt",target="sim",type="output"} 5`,
		`gen_ai_client_operation_duration_seconds_count{endpoint="gpt",error_type="",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="",target="sim"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Graceful shutdown: a stream in flight when SIGTERM comes still finishes.
	sim.SetFaults(upstreamsim.Faults{TokenInterval: 20 * time.Millisecond})
	resp, err = http.Post(app+"/m/gpt/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	cancel() // as SIGTERM does
	body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !strings.Contains(string(body), "data: [DONE]") {
		t.Errorf("in-flight stream cut by shutdown: %v, %q", err, body)
	}
	if code := <-exit; code != 0 {
		t.Errorf("exit code %d", code)
	}
	if strings.Contains(logs.String(), "hi\"") {
		t.Error("logs contain request content")
	}
}

func get(t *testing.T, url string) int {
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func scrape(t *testing.T, admin string) string {
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// waitFor polls cond; the deadline only guards against a hang.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met")
}

// TestEveryFlagIsDocumented keeps docs/guard.md true: each flag cmd/guard registers is in its flag
// table.
func TestEveryFlagIsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "guard.md"))
	if err != nil {
		t.Fatal(err)
	}
	var o options
	newFlagSet(&o).VisitAll(func(f *flag.Flag) {
		if !strings.Contains(string(doc), "| `--"+f.Name+"` |") {
			t.Errorf("docs/guard.md does not document --%s", f.Name)
		}
	})
}

// TestPprofFlag checks that /debug/pprof/ is served on the admin listener only with --pprof, and
// that the admin routes stay as they are with it.
func TestPprofFlag(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "guard.json")
	if err := os.WriteFile(cfgPath, []byte(`{"apiVersion":"guard.breakwater.dev/v1alpha1",`+
		`"workload":{"namespace":"shop","name":"assistant"},"endpoints":[{"name":"gpt","provider":"openai",`+
		`"targets":[{"name":"sim","weight":100,"url":"http://127.0.0.1:9/v1"}]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		args      []string
		wantPprof int
	}{
		{"default", nil, http.StatusNotFound},
		{"--pprof", []string{"--pprof"}, http.StatusOK},
		{"--pprof=false", []string{"--pprof=false"}, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			addrs := make(chan string, 1)
			exit := make(chan int, 1)
			args := append([]string{"--config-file", cfgPath, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, tc.args...)
			go func() {
				exit <- run(ctx, args, io.Discard, func(_, admin string) { addrs <- "http://" + admin })
			}()
			admin := <-addrs
			defer func() {
				cancel()
				if code := <-exit; code != 0 {
					t.Errorf("exit code %d", code)
				}
			}()
			waitFor(t, func() bool { return get(t, admin+"/readyz") == http.StatusOK })
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap?debug=1"} {
				if got := get(t, admin+path); got != tc.wantPprof {
					t.Errorf("GET %s = %d, want %d", path, got, tc.wantPprof)
				}
			}
			if got := get(t, admin+"/healthz"); got != http.StatusOK {
				t.Errorf("GET /healthz = %d, want 200", got)
			}
			if m := scrape(t, admin); !strings.Contains(m, "breakwater_guard_config_reloads_total") {
				t.Error("/metrics lacks the guard's metrics")
			}
		})
	}
}

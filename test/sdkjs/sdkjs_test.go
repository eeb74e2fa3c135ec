package sdkjs

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/test/localproc"
	"github.com/breakwater-dev/breakwater/test/testenv"
	"github.com/breakwater-dev/breakwater/test/upstreamsim"
)

const (
	guardKeyID, guardSecret = "AKIDGUARD", "guard-secret"
	upstreamKey             = "sk-upstream"
	openDuration            = 3 * time.Second
)

// result is run.cjs's line.
type result struct {
	OK         bool   `json:"ok"`
	Error      string `json:"error"`
	Class      string `json:"class"`
	Message    string `json:"message"`
	Status     int    `json:"status"`
	Attempts   int    `json:"attempts"`
	Reason     string `json:"reason"`
	RetryAfter string `json:"retryAfter"`
	Events     int    `json:"events"`
	Text       int    `json:"text"`
	Usage      *struct {
		In  int64 `json:"in"`
		Out int64 `json:"out"`
	} `json:"usage"`
}

type call struct {
	SDK         string `json:"sdk"`
	Op          string `json:"op"`
	URL         string `json:"url"`
	MaxAttempts int    `json:"maxAttempts,omitempty"` // AWS; 0: the SDK's default (3)
	MaxRetries  *int   `json:"maxRetries,omitempty"`  // OpenAI; nil: the SDK's default (2)
}

type env struct {
	nodeModules string
	script      string
	sim         *upstreamsim.Server
	guard       string // http://host:port of the guard with a normal quota
	refusing    string // ... of a guard whose quota is exhausted
	logDir      string
}

func (e *env) run(t *testing.T, c call) result {
	t.Helper()
	arg, _ := json.Marshal(c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", e.script, string(arg))
	cmd.Env = append(os.Environ(), "NODE_PATH="+e.nodeModules, "AWS_EC2_METADATA_DISABLED=true")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s\nguard log:\n%s", arg, err, stderr.String(), localproc.Tail(filepath.Join(e.logDir, "guard.log"), 4000))
	}
	var r result
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("node %s printed %q: %v\n%s", arg, out, err, stderr.String())
	}
	return r
}

func setup(t *testing.T) *env {
	t.Helper()
	nodeModules := os.Getenv("SDKJS_NODE_MODULES")
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if nodeModules == "" {
		out, err := exec.Command("bash", filepath.Join(root, "hack", "npm-ci.sh"), "test/sdkjs", "sdkjs").Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("hack/npm-ci.sh test/sdkjs sdkjs: %v\n%s", err, stderr)
		}
		nodeModules = strings.TrimSpace(string(out))
	}
	dir := t.TempDir()
	guardBin := filepath.Join(dir, "guard")
	build := exec.Command("go", "build", "-o", guardBin, "./cmd/guard")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/guard: %v\n%s", err, out)
	}
	sim, err := upstreamsim.Start(upstreamsim.Options{Region: "us-east-1", AccessKeyID: guardKeyID, SecretAccessKey: guardSecret,
		APIKey: upstreamKey, OutputTokens: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	keyFile := filepath.Join(dir, "api-key")
	if err := os.WriteFile(keyFile, []byte(upstreamKey), 0o600); err != nil {
		t.Fatal(err)
	}
	group := &localproc.Group{LogDir: filepath.Join(dir, "logs")}
	t.Cleanup(func() { group.StopAll(5 * time.Second) })
	start := func(name string, state guardconfig.QuotaState) string {
		cfg := filepath.Join(dir, name+".json")
		data, _ := json.Marshal(guardConfig(sim.URL(), keyFile, state))
		if err := os.WriteFile(cfg, data, 0o600); err != nil {
			t.Fatal(err)
		}
		listen, err := localproc.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		admin, err := localproc.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		p, err := group.Start(name, []string{"AWS_ACCESS_KEY_ID=" + guardKeyID, "AWS_SECRET_ACCESS_KEY=" + guardSecret,
			"AWS_EC2_METADATA_DISABLED=true"}, guardBin, "--config-file", cfg, "--listen", listen, "--admin-listen", admin, "--log-level", "debug")
		if err != nil {
			t.Fatal(err)
		}
		if err := localproc.WaitHTTP(context.Background(), p, "http://"+admin+"/readyz", time.Minute); err != nil {
			t.Fatal(err)
		}
		return "http://" + listen
	}
	return &env{logDir: group.LogDir, nodeModules: nodeModules, script: filepath.Join(root, "test", "sdkjs", "run.cjs"), sim: sim,
		guard: start("guard", guardconfig.QuotaNormal), refusing: start("refusing", guardconfig.QuotaExhausted)}
}

// guardConfig has one endpoint per provider, and a copy of each ("-cb") whose breaker opens on
// the first failure.
func guardConfig(simURL, keyFile string, state guardconfig.QuotaState) guardconfig.Config {
	ratio, minRetries := 1.0, 100
	retry := guardconfig.Retry{MaxAttempts: 2, BackoffBase: guardconfig.Duration(time.Millisecond), BackoffMax: guardconfig.Duration(5 * time.Millisecond),
		BudgetRatio: &ratio, MinRetries: &minRetries, MaxRetryAfter: guardconfig.Duration(50 * time.Millisecond)}
	timeouts := guardconfig.Timeouts{Request: guardconfig.Duration(20 * time.Second), FirstToken: guardconfig.Duration(300 * time.Millisecond),
		StreamIdle: guardconfig.Duration(300 * time.Millisecond)}
	lenient := guardconfig.Breaker{MinRequests: 1000, ConsecutiveFailures: -1}
	tripping := guardconfig.Breaker{MinRequests: 1000, ConsecutiveFailures: 1, OpenDuration: guardconfig.Duration(openDuration)}
	var eps []guardconfig.Endpoint
	for _, suffix := range []string{"", "-cb"} {
		b, r := lenient, retry
		if suffix != "" {
			b, r.MaxAttempts = tripping, 1
		}
		eps = append(eps,
			guardconfig.Endpoint{Name: "claude" + suffix, Provider: guardconfig.Bedrock, Timeouts: timeouts, Retry: r, Breaker: b,
				Targets: []guardconfig.Target{{Name: "east", Weight: 100, Region: "us-east-1", ModelID: "anthropic.claude-sim", URL: simURL}}},
			guardconfig.Endpoint{Name: "sm" + suffix, Provider: guardconfig.SageMaker, Timeouts: timeouts, Retry: r, Breaker: b,
				Targets: []guardconfig.Target{{Name: "east", Weight: 100, Region: "us-east-1", EndpointName: "llm-east", URL: simURL}}},
			guardconfig.Endpoint{Name: "gpt" + suffix, Provider: guardconfig.OpenAI, Timeouts: timeouts, Retry: r, Breaker: b,
				Targets: []guardconfig.Target{{Name: "primary", Weight: 100, URL: simURL + "/v1", ModelID: "gpt-sim", APIKeyFile: keyFile}}},
		)
	}
	return guardconfig.Config{
		APIVersion: guardconfig.APIVersion,
		Workload:   guardconfig.Workload{Namespace: "shop", Name: "assistant", Criticality: guardconfig.Standard},
		Endpoints:  eps,
		Quota:      guardconfig.Quota{State: state},
	}
}

// path is an SDK's base URL below the guard for an endpoint.
func path(sdk, endpointSuffix string) string {
	switch sdk {
	case "bedrock":
		return "/m/claude" + endpointSuffix
	case "sagemaker":
		return "/m/sm" + endpointSuffix
	}
	return "/m/gpt" + endpointSuffix + "/v1"
}

// want is what the app must see; empty fields are not checked.
type want struct {
	err        string // error name (AWS) or class (OpenAI)
	status     int
	attempts   int    // the SDK's own attempts: its retry logic read the answer
	reason     string // X-Breakwater-Reason
	message    string // part of the message the SDK surfaces
	retryAfter bool
}

func (w want) check(t *testing.T, r result) {
	t.Helper()
	name := r.Error
	if r.Class != "" && r.Class != "Error" && !strings.HasSuffix(r.Class, "ServiceException") {
		name = r.Class // the OpenAI SDK's errors are all named "Error"; their class says which
	}
	if r.OK || name != w.err || (w.status != 0 && r.Status != w.status) || (w.attempts != 0 && r.Attempts != w.attempts) ||
		(w.reason != "" && r.Reason != w.reason) || !strings.Contains(r.Message, w.message) || (w.retryAfter && r.RetryAfter == "") {
		t.Errorf("app saw %+v\nwant %+v", r, w)
	}
}

var (
	sdks      = []string{"bedrock", "sagemaker", "openai"}
	nonStream = map[string]string{"bedrock": "converse", "sagemaker": "invoke", "openai": "chat"}
	stream    = map[string]string{"bedrock": "converse-stream", "sagemaker": "invoke-stream", "openai": "chat-stream"}
)

func TestNodeSDKsThroughTheGuard(t *testing.T) {
	e := setup(t)

	t.Run("healthy", func(t *testing.T) {
		for _, c := range []call{
			{SDK: "bedrock", Op: "converse"}, {SDK: "bedrock", Op: "converse-stream"},
			{SDK: "bedrock", Op: "invoke"}, {SDK: "bedrock", Op: "invoke-stream"},
			{SDK: "sagemaker", Op: "invoke"}, {SDK: "sagemaker", Op: "invoke-stream"},
			{SDK: "openai", Op: "chat"}, {SDK: "openai", Op: "chat-stream"},
		} {
			t.Run(c.SDK+" "+c.Op, func(t *testing.T) {
				t.Parallel()
				c.URL = e.guard + path(c.SDK, "")
				r := e.run(t, c)
				streamed := strings.HasSuffix(c.Op, "stream")
				if !r.OK || r.Attempts != 1 || r.Text == 0 || (streamed && r.Events < 2) {
					t.Fatalf("app saw %+v, want one successful attempt with content", r)
				}
				// The simulator answers 8 output tokens; the Bedrock Converse and OpenAI answers carry usage.
				if c.Op == "converse" || c.Op == "converse-stream" || c.SDK == "openai" {
					if r.Usage == nil || r.Usage.Out != 8 || r.Usage.In == 0 {
						t.Errorf("usage %+v, want 8 output tokens and some input", r.Usage)
					}
				}
			})
		}
	})

	faults := []struct {
		name   string
		faults upstreamsim.Faults
		ops    map[string]string
		want   map[string]want
	}{
		{"throttle", upstreamsim.Faults{ThrottleRate: 1}, nonStream, map[string]want{
			"bedrock":   {err: "ThrottlingException", status: 429, attempts: 3, reason: "upstream_throttled", message: "Too many requests"},
			"sagemaker": {err: "ThrottlingException", status: 429, attempts: 3, reason: "upstream_throttled", message: "Too many requests"},
			"openai":    {err: "RateLimitError", status: 429, attempts: 3, reason: "upstream_throttled", message: "Too many requests"},
		}},
		{"5xx", upstreamsim.Faults{ErrorRate: 1}, nonStream, map[string]want{
			"bedrock":   {err: "InternalServerException", status: 500, attempts: 3, reason: "upstream_error", message: "injected upstream failure"},
			"sagemaker": {err: "InternalFailure", status: 500, attempts: 3, reason: "upstream_error", message: "injected upstream failure"},
			"openai":    {err: "InternalServerError", status: 500, attempts: 3, reason: "upstream_error", message: "injected upstream failure"},
		}},
		{"first token timeout", upstreamsim.Faults{FirstTokenDelay: 2 * time.Second}, stream, map[string]want{
			"bedrock":   {err: "ModelTimeoutException", status: 504, attempts: 3, reason: "first_token_timeout", message: "first-token timeout"},
			"sagemaker": {err: "ServiceUnavailable", status: 504, attempts: 3, reason: "first_token_timeout", message: "first-token timeout"},
			"openai":    {err: "InternalServerError", status: 504, attempts: 3, reason: "first_token_timeout", message: "first-token timeout"},
		}},
		// Cut after bytes reached the app: an error in the stream's own protocol, never retried.
		{"stalled stream", upstreamsim.Faults{StallAfterEvents: 2}, stream, map[string]want{
			"bedrock":   {err: "ModelStreamErrorException", message: "stream_idle_timeout"},
			"sagemaker": {err: "ModelStreamError", message: "stream_idle_timeout"},
			"openai":    {err: "APIError", message: "stream_idle_timeout"},
		}},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			e.sim.SetFaults(f.faults)
			t.Cleanup(func() { e.sim.SetFaults(upstreamsim.Faults{}) })
			for _, sdk := range sdks {
				t.Run(sdk, func(t *testing.T) {
					t.Parallel()
					f.want[sdk].check(t, e.run(t, call{SDK: sdk, Op: f.ops[sdk], URL: e.guard + path(sdk, "")}))
				})
			}
		})
	}

	// A quota refusal: the OpenAI SDK obeys X-Should-Retry: false; the AWS SDKs retry throttles
	// whatever the answer says, and each retry is refused at once without an upstream call.
	t.Run("quota refusal", func(t *testing.T) {
		before := e.sim.Stats()
		for _, sdk := range sdks {
			t.Run(sdk, func(t *testing.T) {
				t.Parallel()
				w := want{err: "ThrottlingException", status: 429, attempts: 3, reason: "quota_exhausted", message: "the token quota is exhausted"}
				if sdk == "openai" {
					w.err, w.attempts = "RateLimitError", 1
				}
				w.check(t, e.run(t, call{SDK: sdk, Op: nonStream[sdk], URL: e.refusing + path(sdk, "")}))
			})
		}
		t.Cleanup(func() {
			if n, m := sum(e.sim.Stats().Requests), sum(before.Requests); n != m {
				t.Errorf("the simulator saw %d requests during quota refusals, want none", n-m)
			}
		})
	})

	// An open breaker: the refusal says when to come back (Retry-After), and an SDK left to its
	// defaults waits that long and gets its answer from the probe.
	t.Run("circuit open", func(t *testing.T) {
		raw := map[string][2]string{
			"bedrock":   {"/model/x/converse", `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`},
			"sagemaker": {"/endpoints/x/invocations", `{"inputs":"hi"}`},
			"openai":    {"/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`},
		}
		open := func(t *testing.T, sdk string) {
			t.Helper()
			e.sim.SetFaults(upstreamsim.Faults{ErrorRate: 1})
			defer e.sim.SetFaults(upstreamsim.Faults{})
			resp, err := http.Post(e.guard+path(sdk, "-cb")+raw[sdk][0], "application/json", strings.NewReader(raw[sdk][1]))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 500 {
				t.Fatalf("failure to open the breaker answered %d, want 500", resp.StatusCode)
			}
		}
		noRetries := 0
		wants := map[string]want{
			"bedrock":   {err: "ServiceUnavailableException", status: 503, attempts: 1, reason: "circuit_open", message: "circuit breaker is open", retryAfter: true},
			"sagemaker": {err: "ServiceUnavailable", status: 503, attempts: 1, reason: "circuit_open", message: "circuit breaker is open", retryAfter: true},
			"openai":    {err: "InternalServerError", status: 503, attempts: 1, reason: "circuit_open", message: "circuit breaker is open", retryAfter: true},
		}
		for _, sdk := range sdks {
			t.Run(sdk, func(t *testing.T) {
				open(t, sdk)
				r := e.run(t, call{SDK: sdk, Op: nonStream[sdk], URL: e.guard + path(sdk, "-cb"), MaxAttempts: 1, MaxRetries: &noRetries})
				wants[sdk].check(t, r)
				if s, err := time.ParseDuration(r.RetryAfter + "s"); err != nil || s <= 0 || s > openDuration {
					t.Errorf("Retry-After %q, want whole seconds up to the open duration %s", r.RetryAfter, openDuration)
				}
				r = e.run(t, call{SDK: sdk, Op: nonStream[sdk], URL: e.guard + path(sdk, "-cb")})
				if !r.OK {
					t.Errorf("with the SDK's default retries: %+v, want the answer once the breaker lets a probe through", r)
				}
				t.Logf("%s with default retries: %d attempts", sdk, r.Attempts)
			})
		}
	})

	st := e.sim.Stats()
	if st.SignatureFailures != 0 || st.AuthFailures != 0 {
		t.Errorf("the simulator refused %d signatures and %d API keys: the guard must sign with its own credentials", st.SignatureFailures, st.AuthFailures)
	}
	for _, h := range []string{"Authorization", "X-Api-Key"} {
		if v := st.LastHeaders.Get(h); strings.Contains(v, "never-forwarded") {
			t.Errorf("the app's %s reached the upstream: %q", h, v)
		}
	}
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

package guard_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/breakwater-dev/breakwater/internal/guard"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/internal/metrics"
	"github.com/breakwater-dev/breakwater/test/upstreamsim"
)

// Credentials: the guard's (the pod's) and the app's, which must never reach an upstream.
const (
	guardKeyID  = "AKIDGUARDEXAMPLE"
	guardSecret = "guard-secret"
	appKeyID    = "AKIDAPPEXAMPLE"
	appSecret   = "app-secret"
	openAIKey   = "sk-guard-upstream"
	appOpenAI   = "sk-app-must-not-leak"
	modelEast   = "us.anthropic.claude-sim-v1:0"
	modelWest   = "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-sim-v1:0"
)

// harness is a guard on loopback in front of two simulated regions.
type harness struct {
	t        testing.TB
	reg      *prometheus.Registry
	m        *metrics.Metrics
	g        *guard.Guard
	srv      *httptest.Server
	east     *upstreamsim.Server
	west     *upstreamsim.Server
	keyFile  string
	cfg      *guardconfig.Config
	adminSrv *httptest.Server
}

func newHarness(t testing.TB, modify func(c *guardconfig.Config)) *harness {
	t.Helper()
	return newHarnessWith(t, nil, modify)
}

// newHarnessWith lets a test set guard options (a fake clock) before the first config.
func newHarnessWith(t testing.TB, opts func(o *guard.Options), modify func(c *guardconfig.Config)) *harness {
	t.Helper()
	h := &harness{t: t, reg: prometheus.NewRegistry()}
	h.east = startSim(t, "us-east-1")
	h.west = startSim(t, "us-west-2")
	h.keyFile = filepath.Join(t.TempDir(), "api-key")
	if err := os.WriteFile(h.keyFile, []byte(openAIKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.m = metrics.Register(h.reg)
	o := guard.Options{
		Metrics:        h.m,
		AWSCredentials: credentials.NewStaticCredentialsProvider(guardKeyID, guardSecret, ""),
		Rand:           func() float64 { return 0 }, // first weighted target first: deterministic routing
	}
	if opts != nil {
		opts(&o)
	}
	h.g = guard.New(o)
	h.srv = httptest.NewServer(h.g)
	t.Cleanup(h.srv.Close)
	h.adminSrv = httptest.NewServer(h.g.Admin(h.reg))
	t.Cleanup(h.adminSrv.Close)
	h.cfg = h.baseConfig()
	if modify != nil {
		modify(h.cfg)
	}
	h.load(h.cfg)
	return h
}

func startSim(t testing.TB, region string) *upstreamsim.Server {
	t.Helper()
	s, err := upstreamsim.Start(upstreamsim.Options{
		Region: region, AccessKeyID: guardKeyID, SecretAccessKey: guardSecret, APIKey: openAIKey,
		OutputTokens: 8, Documents: 50,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func fastRetry() guardconfig.Retry {
	ratio, minRetries := 0.2, 3
	return guardconfig.Retry{
		MaxAttempts: 3, BackoffBase: guardconfig.Duration(time.Millisecond), BackoffMax: guardconfig.Duration(5 * time.Millisecond),
		BudgetRatio: &ratio, MinRetries: &minRetries, MaxRetryAfter: guardconfig.Duration(50 * time.Millisecond),
	}
}

// lenientBreaker stays closed through the tests that are not about it.
func lenientBreaker() guardconfig.Breaker {
	return guardconfig.Breaker{MinRequests: 1000, ConsecutiveFailures: -1}
}

func (h *harness) baseConfig() *guardconfig.Config {
	timeouts := guardconfig.Timeouts{
		Request: guardconfig.Duration(20 * time.Second), FirstToken: guardconfig.Duration(10 * time.Second),
		StreamIdle: guardconfig.Duration(10 * time.Second),
	}
	prices := guardconfig.Prices{InputPer1K: "0.003", OutputPer1K: "0.015"}
	return &guardconfig.Config{
		APIVersion: guardconfig.APIVersion,
		Workload:   guardconfig.Workload{Namespace: "shop", Name: "assistant", Criticality: guardconfig.Standard},
		Endpoints: []guardconfig.Endpoint{
			{
				Name: "claude", Provider: guardconfig.Bedrock,
				Targets: []guardconfig.Target{
					{Name: "east", Weight: 100, Region: "us-east-1", ModelID: modelEast, URL: h.east.URL(), Prices: prices},
					{Name: "west", Weight: 0, Region: "us-west-2", ModelID: modelWest, URL: h.west.URL(), Prices: prices},
				},
				Limits:   guardconfig.Limits{MaxRequestBytes: 64 << 10, MaxPromptTokens: 1000, MaxOutputTokens: 100},
				Timeouts: timeouts, Retry: fastRetry(), Breaker: lenientBreaker(),
			},
			{
				Name: "gpt", Provider: guardconfig.OpenAI,
				Targets: []guardconfig.Target{
					{Name: "primary", Weight: 100, URL: h.east.URL() + "/v1", ModelID: "gpt-sim", APIKeyFile: h.keyFile, Prices: prices},
				},
				Limits:   guardconfig.Limits{MaxOutputTokens: 100},
				Timeouts: timeouts, Retry: fastRetry(), Breaker: lenientBreaker(),
			},
			{
				Name: "sm", Provider: guardconfig.SageMaker,
				Targets: []guardconfig.Target{
					{Name: "east", Weight: 100, Region: "us-east-1", EndpointName: "llm-east", URL: h.east.URL()},
				},
				Timeouts: timeouts, Retry: fastRetry(), Breaker: lenientBreaker(),
			},
		},
		RetrievalBackends: []guardconfig.RetrievalBackend{
			{Name: "docs", Type: guardconfig.OpenSearch, URL: h.east.URL(), MaxDocuments: 5, OnFailure: guardconfig.Degrade,
				Retry: fastRetry(), Breaker: lenientBreaker()},
			{Name: "kb", Type: guardconfig.HTTPSearch, URL: h.east.URL(), CapField: "top_k", ResultsField: "results",
				MaxDocuments: 3, OnFailure: guardconfig.Fail, Retry: fastRetry(), Breaker: lenientBreaker()},
		},
	}
}

func (h *harness) load(c *guardconfig.Config) {
	h.t.Helper()
	data, err := json.Marshal(c)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.g.Load(data); err != nil {
		h.t.Fatalf("Load: %v", err)
	}
}

func (h *harness) bedrock() *bedrockruntime.Client { return h.bedrockAt("/m/claude") }

// bedrockAt is the Bedrock client with its base URL at path below the guard.
func (h *harness) bedrockAt(path string) *bedrockruntime.Client {
	return bedrockruntime.New(bedrockruntime.Options{
		Region:       "eu-central-1", // the app's own idea of a region must not matter
		BaseEndpoint: aws.String(h.srv.URL + path),
		Credentials:  credentials.NewStaticCredentialsProvider(appKeyID, appSecret, ""),
		Retryer:      aws.NopRetryer{}, // the guard retries; the app must see each guard answer
	})
}

func (h *harness) sagemaker() *sagemakerruntime.Client {
	return sagemakerruntime.New(sagemakerruntime.Options{
		Region:       "eu-central-1",
		BaseEndpoint: aws.String(h.srv.URL + "/m/sm"),
		Credentials:  credentials.NewStaticCredentialsProvider(appKeyID, appSecret, ""),
		Retryer:      aws.NopRetryer{},
	})
}

func (h *harness) openai() openai.Client {
	return openai.NewClient(
		option.WithBaseURL(h.srv.URL+"/m/gpt/v1/"),
		option.WithAPIKey(appOpenAI),
		option.WithMaxRetries(0),
	)
}

// scrape reads the admin listener's /metrics as Prometheus would.
func (h *harness) scrape() string {
	h.t.Helper()
	resp, err := http.Get(h.adminSrv.URL + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}

// post sends a raw request to the guard and returns status, reason header and body.
func (h *harness) post(path, body string) (int, http.Header, string) {
	h.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	// net/http moves the Trailer header's names into resp.Trailer; put it back as sent.
	for k := range resp.Trailer {
		resp.Header.Add("Trailer", k)
	}
	b, _ := io.ReadAll(resp.Body)
	for k, v := range resp.Trailer { // known once the body is read
		resp.Header[k] = v
	}
	return resp.StatusCode, resp.Header, string(b)
}

// value reads a metric once every request has left the guard: an app may see the end of a
// stream before the guard has finished accounting for it.
func (h *harness) value(c prometheus.Collector) float64 {
	h.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); testutil.ToFloat64(h.m.InFlight) != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			h.t.Fatal("requests still in flight")
		}
	}
	return testutil.ToFloat64(c)
}

// checkSigned verifies that the simulator saw the guard's signature for region and never the app's.
func checkSigned(t *testing.T, s *upstreamsim.Server, region string) {
	t.Helper()
	st := s.Stats()
	if st.SignatureFailures != 0 {
		t.Errorf("simulator in %s saw %d signature failures", region, st.SignatureFailures)
	}
	auth := st.LastHeaders.Get("Authorization")
	if !strings.Contains(auth, "Credential="+guardKeyID+"/") || !strings.Contains(auth, "/"+region+"/") {
		t.Errorf("upstream Authorization = %q, want the guard's key signed for %s", auth, region)
	}
	for k, v := range st.LastHeaders {
		if strings.Contains(strings.Join(v, ","), appKeyID) || strings.Contains(strings.Join(v, ","), appOpenAI) {
			t.Errorf("upstream header %s carries the app's credentials", k)
		}
	}
}

const chatBody = `{"model":"app-model","messages":[{"role":"user","content":"hello there"}]}`
const converseBody = `{"messages":[{"role":"user","content":[{"text":"hello there"}]}]}`

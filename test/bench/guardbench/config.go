package guardbench

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/breakwater-dev/breakwater/internal/guardconfig"
)

// Credentials and names shared by the simulator, the guard and the load generator. They are
// benchmark-only values on loopback.
const (
	awsKeyID     = "AKIDBENCHEXAMPLE"
	awsSecret    = "bench-secret"
	awsRegion    = "us-east-1"
	openAIKey    = "sk-bench-upstream"
	bedrockModel = "anthropic.claude-sim-v1"
	// outputTokens sizes the simulator's answers: a chat.completion of 130 tokens is about 1 KB.
	outputTokens = 130
)

// budgetRatio is the retry budget of the benchmark's guard config (the docs/guard.md example).
const budgetRatio = 0.1

// guardConfig is the guard's config with every protection switched on, as in the docs/guard.md
// example: request, prompt and output limits, timeouts, retries within a budget, a circuit breaker
// per target, a fallback target, a local token allowance with an output clamp, prices. breakerOn
// false keeps every breaker closed, to measure the retry budget alone.
func guardConfig(simURL, keyFile string, breakerOn bool) ([]byte, error) {
	return guardConfigWithFallback(simURL, simURL, keyFile, breakerOn)
}

// guardConfigWithFallback is guardConfig with the OpenAI endpoint's fallback target at
// fallbackURL (the fault run's second simulator).
func guardConfigWithFallback(simURL, fallbackURL, keyFile string, breakerOn bool) ([]byte, error) {
	d := func(v time.Duration) guardconfig.Duration { return guardconfig.Duration(v) }
	ratio, minRetries := budgetRatio, 5
	retry := guardconfig.Retry{MaxAttempts: 3, BackoffBase: d(200 * time.Millisecond), BackoffMax: d(2 * time.Second),
		BudgetRatio: &ratio, MinRetries: &minRetries, BudgetWindow: d(10 * time.Second), MaxRetryAfter: d(3 * time.Second)}
	br := guardconfig.Breaker{Window: d(30 * time.Second), MinRequests: 20, FailureRatio: 0.5, ConsecutiveFailures: 5,
		OpenDuration: d(30 * time.Second), HalfOpenProbes: 2}
	if !breakerOn {
		br = guardconfig.Breaker{Window: d(30 * time.Second), MinRequests: 1 << 30, FailureRatio: 1, ConsecutiveFailures: -1,
			OpenDuration: d(30 * time.Second), HalfOpenProbes: 1}
	}
	timeouts := guardconfig.Timeouts{Request: d(2 * time.Minute), FirstToken: d(10 * time.Second), StreamIdle: d(15 * time.Second)}
	limits := guardconfig.Limits{MaxRequestBytes: 1 << 20, MaxPromptTokens: 50000, MaxOutputTokens: 2048}
	prices := guardconfig.Prices{InputPer1K: "0.003", OutputPer1K: "0.015"}
	c := guardconfig.Config{
		APIVersion: guardconfig.APIVersion,
		Workload:   guardconfig.Workload{Namespace: "bench", Name: "assistant", Criticality: guardconfig.Standard},
		Endpoints: []guardconfig.Endpoint{
			{
				Name: "gpt", Provider: guardconfig.OpenAI,
				Targets: []guardconfig.Target{
					{Name: "primary", Weight: 100, URL: simURL + "/v1", APIKeyFile: keyFile, Prices: prices},
					{Name: "fallback", Weight: 0, URL: fallbackURL + "/v1", APIKeyFile: keyFile, Prices: prices},
				},
				Limits: limits, Timeouts: timeouts, Retry: retry, Breaker: br,
			},
			{
				Name: "claude", Provider: guardconfig.Bedrock,
				Targets: []guardconfig.Target{
					{Name: "use1", Weight: 100, Region: awsRegion, ModelID: bedrockModel, URL: simURL, Prices: prices},
					{Name: "use1-fallback", Weight: 0, Region: awsRegion, ModelID: bedrockModel, URL: simURL, Prices: prices},
				},
				Limits: limits, Timeouts: timeouts, Retry: retry, Breaker: br,
			},
		},
		// The allowance is far above what the benchmark sends (it must never refuse), yet every
		// request reserves and settles its tokens in it.
		Quota: guardconfig.Quota{State: guardconfig.QuotaNormal, TokensPerMinute: 1 << 40, OutputTokenClamp: 1024},
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("benchmark guard config: %w", err)
	}
	return json.Marshal(c)
}

// Request bodies: a chat prompt of about 400 bytes without max_tokens (the guard sets its clamp),
// answered with about 1 KB; and the same prompt streamed, as SSE or as a Bedrock ConverseStream
// request, asking for streamTokens tokens: the streamed phases measure the first event, and
// shorter streams keep the rest of each answer from loading the CPUs.
const prompt = "You are the support assistant of an online shop. A customer writes: my order 4711 was due " +
	"on Tuesday and the tracking page has said in transit since last week. Can you tell me where it is, " +
	"whether it will arrive before the weekend, and what I can do if it does not? Please answer briefly, " +
	"in a friendly tone, and mention the return policy only if it matters."

// streamTokens is the length of the streamed answers.
const streamTokens = 16

func chatBody(stream bool) string {
	s := ""
	if stream {
		s = `"stream":true,"max_tokens":` + fmt.Sprint(streamTokens) + `,`
	}
	return `{"model":"gpt-sim",` + s + `"messages":[{"role":"system","content":"Be concise."},{"role":"user","content":"` + prompt + `"}]}`
}

func converseBody() string {
	return `{"messages":[{"role":"user","content":[{"text":"` + prompt + `"}]}],"system":[{"text":"Be concise."}],` +
		`"inferenceConfig":{"maxTokens":` + fmt.Sprint(streamTokens) + `}}`
}

// nginxConfig is nginx as a plain reverse proxy: one worker, no buffering either way, HTTP/1.1
// keep-alive connections to the upstream, the client's Host passed on (the simulator checks SigV4
// signatures, which cover it), nothing logged per request. Every path is under dir.
func nginxConfig(dir, listen, upstreamHostPort string) string {
	r := strings.NewReplacer("DIR", dir, "LISTEN", listen, "UPSTREAM", upstreamHostPort)
	return r.Replace(`daemon off;
worker_processes 1;
pid DIR/nginx.pid;
error_log DIR/nginx-error.log warn;
worker_rlimit_nofile 8192;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path DIR/client_body;
    proxy_temp_path DIR/proxy;
    fastcgi_temp_path DIR/fastcgi;
    uwsgi_temp_path DIR/uwsgi;
    scgi_temp_path DIR/scgi;
    keepalive_requests 100000;
    upstream sim {
        server UPSTREAM;
        keepalive 64;
        keepalive_requests 100000;
    }
    server {
        listen LISTEN;
        location / {
            proxy_pass http://sim;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_buffering off;
            proxy_request_buffering off;
        }
    }
}
`)
}

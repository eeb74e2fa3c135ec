// Package guardconfig is the versioned contract between the Breakwater manager, which renders one
// guard config per GenAIWorkload into a ConfigMap (key "guard.json"), and the guard sidecar, which
// reads it. It holds plain Go structs and JSON only, with no Kubernetes types, so that both sides and
// their tests can use it without an API server.
//
// Durations are strings in Go syntax ("30s", "1m30s"); money is a decimal string ("0.003") so that no
// price is ever rounded through a float in the document. Zero values mean "use the default" for
// every field whose comment names a default, which keeps rendered documents short.
package guardconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// APIVersion is the only document version this guard understands.
const APIVersion = "guard.breakwater.dev/v1alpha1"

// ConfigMapKey is the key of the ConfigMap data entry that holds the document.
const ConfigMapKey = "guard.json"

// Config is the whole guard configuration of one workload.
type Config struct {
	// apiVersion must be "guard.breakwater.dev/v1alpha1".
	APIVersion string `json:"apiVersion"`
	// workload identifies the application the guard runs beside.
	Workload Workload `json:"workload"`
	// endpoints are the model endpoints reachable under /m/{name}/.
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// retrievalBackends are the search services reachable under /r/{name}/.
	RetrievalBackends []RetrievalBackend `json:"retrievalBackends,omitempty"`
	// quota is the local token allowance and the quota state handed down by the manager.
	Quota Quota `json:"quota,omitzero"`
	// admission is fleet-wide admission: the TokenQuotas every request reserves against, across
	// every guard they cover, and the store they share.
	Admission Admission `json:"admission,omitzero"`
}

// Admission is fleet-wide admission (docs/tokenquota.md, "Admission at the request").
type Admission struct {
	// store is the shared Redis (standalone, Sentinel or Cluster). Absent: every quota is
	// enforced locally, each guard on its share.
	Store *AdmissionStore `json:"store,omitempty"`
	// quotas this workload's requests count against.
	Quotas []AdmissionQuota `json:"quotas,omitempty"`
}

// AdmissionStore is how a guard reaches the Redis that holds the shared budgets.
type AdmissionStore struct {
	// addresses are host:port: one for a standalone server or a cluster's configuration endpoint,
	// several for Redis Cluster seeds or Sentinels. Required.
	Addresses []string `json:"addresses"`
	// masterName selects Sentinel: the name of the monitored master.
	MasterName string `json:"masterName,omitempty"`
	// username for Redis 6 ACLs (AUTH username password); empty: the default user.
	Username string `json:"username,omitempty"`
	// passwordFile is a mounted Secret key holding the password (AUTH); empty: no AUTH.
	PasswordFile string `json:"passwordFile,omitempty"`
	// tls connects with TLS (ElastiCache in-transit encryption).
	TLS bool `json:"tls,omitempty"`
	// caFile is a PEM bundle to verify the server with; empty: the system roots. Needs tls.
	CAFile string `json:"caFile,omitempty"`
	// serverName overrides the name verified in the server's certificate. Needs tls.
	ServerName string `json:"serverName,omitempty"`
	// timeout bounds each call on the request path; past it the guard enforces its local share.
	// Default 10ms.
	Timeout Duration `json:"timeout,omitempty"`
}

// Enforcement is where an admission quota is enforced.
type Enforcement string

// Enforcement values.
const (
	EnforcementShared Enforcement = "shared"
	EnforcementLocal  Enforcement = "local"
)

// AdmissionQuota is one TokenQuota as the guard enforces it at the request.
type AdmissionQuota struct {
	// namespace and name of the TokenQuota. Required: they name its budget in the store.
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// endpoints are the names of this config's endpoints the quota covers. Required.
	Endpoints []string `json:"endpoints"`
	// enforcement: shared (in the store; each guard's local share while it is unavailable) or
	// local (each guard's local share only). Default shared when a store is configured, else local.
	Enforcement Enforcement `json:"enforcement,omitempty"`
	// tokensPerMinute and requestsPerMinute are the limits over any 60 s; 0 is no limit of that
	// kind, and at least one is required.
	TokensPerMinute   int64 `json:"tokensPerMinute,omitempty"`
	RequestsPerMinute int64 `json:"requestsPerMinute,omitempty"`
	// shedPercent, hardPercent and criticalReservePercent are shares of the limits: sheddable
	// requests pass below shed minus the unused critical reserve, standard below hard minus it,
	// critical below hard. Defaults 90 and 100; the reserve has none (0 keeps no reserve; the
	// TokenQuota's default of 10 is rendered).
	ShedPercent            int64 `json:"shedPercent,omitempty"`
	HardPercent            int64 `json:"hardPercent,omitempty"`
	CriticalReservePercent int64 `json:"criticalReservePercent,omitempty"`
	// guards is the number of guards the quota covers across the fleet, for the local share
	// (limit / guards). Default 1.
	Guards int64 `json:"guards,omitempty"`
}

// Criticality decides who is refused first when a quota runs short.
type Criticality string

// Criticality values.
const (
	Critical  Criticality = "critical"
	Standard  Criticality = "standard"
	Sheddable Criticality = "sheddable"
)

// Workload identifies the application.
type Workload struct {
	// namespace of the GenAIWorkload. Required.
	Namespace string `json:"namespace"`
	// name of the GenAIWorkload. Required.
	Name string `json:"name"`
	// criticality: critical, standard or sheddable. Default standard.
	Criticality Criticality `json:"criticality,omitempty"`
}

// Provider is the wire protocol of an endpoint's targets.
type Provider string

// Provider values.
const (
	Bedrock   Provider = "bedrock"
	SageMaker Provider = "sagemaker"
	OpenAI    Provider = "openai"
)

// Endpoint is one logical model served by one or more targets.
type Endpoint struct {
	// name is the path segment in /m/{name}/ and the "endpoint" metric label. A DNS label. Required.
	Name string `json:"name"`
	// provider: bedrock, sagemaker or openai (any OpenAI-compatible server). Required.
	Provider Provider `json:"provider"`
	// targets serve the model; at least one, and at least one with a weight above 0.
	Targets []Target `json:"targets"`
	// limits are checked before any upstream call.
	Limits Limits `json:"limits,omitzero"`
	// timeouts bound each request.
	Timeouts Timeouts `json:"timeouts,omitzero"`
	// retry is the retry policy across attempts and targets.
	Retry Retry `json:"retry,omitzero"`
	// breaker is the circuit breaker settings, one breaker per target.
	Breaker Breaker `json:"breaker,omitzero"`
}

// Target is one place that serves an endpoint's model.
type Target struct {
	// name is the "target" metric label. A DNS label, unique within the endpoint. Required.
	Name string `json:"name"`
	// weight is the share of traffic, 0-100, relative to the other targets. A target with weight 0
	// gets no first attempts but is still a fallback, tried in list order after the weighted ones.
	Weight int `json:"weight"`
	// region is the AWS region (bedrock and sagemaker: required; SigV4 signs for it).
	Region string `json:"region,omitempty"`
	// modelId replaces the model the app asked for: bedrock (required) the model or inference-profile
	// ID in this region; openai (optional) the body's "model".
	ModelID string `json:"modelId,omitempty"`
	// endpointName is the SageMaker endpoint (sagemaker: required).
	EndpointName string `json:"endpointName,omitempty"`
	// url is the upstream base URL. openai: required, including the version path
	// ("https://api.openai.com/v1"). bedrock: default https://bedrock-runtime.{region}.amazonaws.com.
	// sagemaker: default https://runtime.sagemaker.{region}.amazonaws.com.
	URL string `json:"url,omitempty"`
	// apiKeyFile is a file (a mounted Secret key) whose trimmed content is sent as
	// "Authorization: Bearer <key>" (openai only). Read at every config load.
	APIKeyFile string `json:"apiKeyFile,omitempty"`
	// prices per 1000 tokens in USD; cost is not counted when absent.
	Prices Prices `json:"prices,omitzero"`
}

// Prices are USD per 1000 tokens, as decimal strings.
type Prices struct {
	// inputPer1k is the price of 1000 input tokens, e.g. "0.003".
	InputPer1K Decimal `json:"inputPer1k,omitempty"`
	// outputPer1k is the price of 1000 output tokens, e.g. "0.015".
	OutputPer1K Decimal `json:"outputPer1k,omitempty"`
}

// Limits are checked before any upstream call.
type Limits struct {
	// maxRequestBytes is the largest request body accepted. Default 10485760 (10 MiB).
	MaxRequestBytes int64 `json:"maxRequestBytes,omitempty"`
	// maxPromptTokens is the largest estimated prompt (prompt text bytes / 4, rounded up). 0: no limit.
	MaxPromptTokens int64 `json:"maxPromptTokens,omitempty"`
	// maxOutputTokens clamps the output tokens a request may ask for (set when absent). 0: no clamp.
	MaxOutputTokens int64 `json:"maxOutputTokens,omitempty"`
}

// Timeouts bound a request.
type Timeouts struct {
	// request is one deadline across all attempts, streaming included. Default 300s.
	Request Duration `json:"request,omitempty"`
	// firstToken is the longest wait for the first byte of a streamed answer, per attempt (streams
	// only: a non-streamed answer arrives whole, so only request applies). Default 60s.
	FirstToken Duration `json:"firstToken,omitempty"`
	// streamIdle is the longest gap between two reads of a streamed answer. Default 60s.
	StreamIdle Duration `json:"streamIdle,omitempty"`
}

// Retry is a retry policy.
type Retry struct {
	// maxAttempts is the cap on upstream attempts per request, first one and fallbacks included.
	// 1 disables retries. Default 3.
	MaxAttempts int `json:"maxAttempts,omitempty"`
	// backoffBase is the first retry's backoff ceiling; full jitter, doubling per retry. Default 100ms.
	BackoffBase Duration `json:"backoffBase,omitempty"`
	// backoffMax caps the backoff. Default 2s.
	BackoffMax Duration `json:"backoffMax,omitempty"`
	// budgetRatio is the largest share of retries over requests in budgetWindow, 0-1. Default 0.2.
	BudgetRatio *float64 `json:"budgetRatio,omitempty"`
	// minRetries are always allowed per budgetWindow, so that a quiet guard can still retry. Default 3.
	MinRetries *int `json:"minRetries,omitempty"`
	// budgetWindow is the rolling window of the retry budget. Default 10s.
	BudgetWindow Duration `json:"budgetWindow,omitempty"`
	// maxRetryAfter is the longest upstream Retry-After honoured; a longer one moves to another
	// target or gives up. Default 5s.
	MaxRetryAfter Duration `json:"maxRetryAfter,omitempty"`
}

// Breaker is circuit breaker settings.
type Breaker struct {
	// window is the rolling window of the failure ratio. Default 30s.
	Window Duration `json:"window,omitempty"`
	// minRequests in the window before the failure ratio counts. Default 10.
	MinRequests int `json:"minRequests,omitempty"`
	// failureRatio opens the breaker when failures/requests reaches it, (0, 1]. Default 0.5.
	FailureRatio float64 `json:"failureRatio,omitempty"`
	// consecutiveFailures also opens it after that many failures in a row. Default 5; -1 turns it off.
	ConsecutiveFailures int `json:"consecutiveFailures,omitempty"`
	// openDuration is how long it stays open before probes. Default 30s.
	OpenDuration Duration `json:"openDuration,omitempty"`
	// halfOpenProbes are the trial requests at once while half-open. Default 1.
	HalfOpenProbes int `json:"halfOpenProbes,omitempty"`
}

// RetrievalType is the protocol of a retrieval backend.
type RetrievalType string

// RetrievalType values.
const (
	OpenSearch RetrievalType = "opensearch"
	HTTPSearch RetrievalType = "http"
)

// OnFailure is what the guard answers when a retrieval backend fails.
type OnFailure string

// OnFailure values.
const (
	// Degrade answers an empty result (200, header X-Breakwater-Degraded: true).
	Degrade OnFailure = "degrade"
	// Cache answers the last good answer to the same request, else degrades.
	Cache OnFailure = "cache"
	// Fail answers an error in the backend's shape.
	Fail OnFailure = "fail"
)

// RetrievalBackend is a vector store or search service.
type RetrievalBackend struct {
	// name is the path segment in /r/{name}/ and the metric label. A DNS label. Required.
	Name string `json:"name"`
	// type: opensearch (caps "size" and kNN "k", trims hits.hits) or http (caps capField, trims
	// resultsField). Required.
	Type RetrievalType `json:"type"`
	// url is the backend's base URL; the path after /r/{name}/ is appended. Required.
	URL string `json:"url"`
	// authorizationFile is a file whose trimmed content is sent as the Authorization header value
	// (e.g. "Basic ..." or "ApiKey ..."). The app's own Authorization is never forwarded.
	AuthorizationFile string `json:"authorizationFile,omitempty"`
	// capField is the dotted path of the request's document count (http type, e.g. "top_k").
	CapField string `json:"capField,omitempty"`
	// resultsField is the dotted path of the response's result array (http type, e.g. "results").
	ResultsField string `json:"resultsField,omitempty"`
	// maxDocuments caps the documents a call may ask for and get back. 0: no cap.
	MaxDocuments int `json:"maxDocuments,omitempty"`
	// maxResponseBytes is the largest answer accepted; a larger one is a failure. Default 10485760.
	MaxResponseBytes int64 `json:"maxResponseBytes,omitempty"`
	// timeout is one deadline across all attempts. Default 5s.
	Timeout Duration `json:"timeout,omitempty"`
	// retry as for endpoints (only a single backend, so every attempt goes to it).
	Retry Retry `json:"retry,omitzero"`
	// breaker as for endpoints.
	Breaker Breaker `json:"breaker,omitzero"`
	// onFailure: degrade, cache or fail. Default fail.
	OnFailure OnFailure `json:"onFailure,omitempty"`
}

// QuotaState is the state of the TokenQuota covering this workload, decided by the manager.
type QuotaState string

// QuotaState values.
const (
	QuotaNormal    QuotaState = "Normal"
	QuotaWarning   QuotaState = "Warning"
	QuotaShedding  QuotaState = "Shedding"
	QuotaExhausted QuotaState = "Exhausted"
)

// Quota is the local token allowance and quota state.
type Quota struct {
	// state: Normal, Warning, Shedding (sheddable workloads refused) or Exhausted (all but critical
	// refused). Default Normal.
	State QuotaState `json:"state,omitempty"`
	// tokensPerMinute is the local allowance of input+output tokens per minute. 0: no local limit.
	TokensPerMinute int64 `json:"tokensPerMinute,omitempty"`
	// outputTokenClamp further clamps max output tokens on every endpoint. 0: none.
	OutputTokenClamp int64 `json:"outputTokenClamp,omitempty"`
}

// Defaults, named in the field comments above and in docs/guard.md.
const (
	DefaultMaxRequestBytes     = 10 << 20
	DefaultRequestTimeout      = 300 * time.Second
	DefaultFirstTokenTimeout   = 60 * time.Second
	DefaultStreamIdleTimeout   = 60 * time.Second
	DefaultMaxAttempts         = 3
	DefaultBackoffBase         = 100 * time.Millisecond
	DefaultBackoffMax          = 2 * time.Second
	DefaultBudgetRatio         = 0.2
	DefaultMinRetries          = 3
	DefaultBudgetWindow        = 10 * time.Second
	DefaultMaxRetryAfter       = 5 * time.Second
	DefaultBreakerWindow       = 30 * time.Second
	DefaultMinRequests         = 10
	DefaultFailureRatio        = 0.5
	DefaultConsecutiveFailures = 5
	DefaultOpenDuration        = 30 * time.Second
	DefaultHalfOpenProbes      = 1
	DefaultRetrievalTimeout    = 5 * time.Second
	DefaultMaxResponseBytes    = 10 << 20
	DefaultAdmissionTimeout    = 10 * time.Millisecond
	DefaultShedPercent         = 90
	DefaultHardPercent         = 100
)

// Parse decodes a document strictly (unknown fields and trailing data are errors), checks its
// apiVersion, applies defaults and validates it. The returned error never quotes file content
// beyond field paths, so it is safe to log.
func Parse(data []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("decode guard config: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("decode guard config: unexpected data after the document")
	}
	if c.APIVersion != APIVersion {
		return nil, fmt.Errorf("apiVersion: must be %q, got %q", APIVersion, c.APIVersion)
	}
	c.Default()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Default fills every zero field that has a default. It is idempotent.
func (c *Config) Default() {
	if c.Workload.Criticality == "" {
		c.Workload.Criticality = Standard
	}
	for i := range c.Endpoints {
		e := &c.Endpoints[i]
		if e.Limits.MaxRequestBytes == 0 {
			e.Limits.MaxRequestBytes = DefaultMaxRequestBytes
		}
		defaultDuration(&e.Timeouts.Request, DefaultRequestTimeout)
		defaultDuration(&e.Timeouts.FirstToken, DefaultFirstTokenTimeout)
		defaultDuration(&e.Timeouts.StreamIdle, DefaultStreamIdleTimeout)
		e.Retry.Default()
		e.Breaker.Default()
	}
	for i := range c.RetrievalBackends {
		b := &c.RetrievalBackends[i]
		if b.MaxResponseBytes == 0 {
			b.MaxResponseBytes = DefaultMaxResponseBytes
		}
		defaultDuration(&b.Timeout, DefaultRetrievalTimeout)
		if b.OnFailure == "" {
			b.OnFailure = Fail
		}
		b.Retry.Default()
		b.Breaker.Default()
	}
	if c.Quota.State == "" {
		c.Quota.State = QuotaNormal
	}
	if st := c.Admission.Store; st != nil {
		defaultDuration(&st.Timeout, DefaultAdmissionTimeout)
	}
	for i := range c.Admission.Quotas {
		q := &c.Admission.Quotas[i]
		if q.Enforcement == "" {
			q.Enforcement = EnforcementLocal
			if c.Admission.Store != nil {
				q.Enforcement = EnforcementShared
			}
		}
		if q.ShedPercent == 0 {
			q.ShedPercent = DefaultShedPercent
		}
		if q.HardPercent == 0 {
			q.HardPercent = DefaultHardPercent
		}
		if q.Guards == 0 {
			q.Guards = 1
		}
	}
}

// Default fills the retry policy's zero fields.
func (r *Retry) Default() {
	if r.MaxAttempts == 0 {
		r.MaxAttempts = DefaultMaxAttempts
	}
	defaultDuration(&r.BackoffBase, DefaultBackoffBase)
	defaultDuration(&r.BackoffMax, DefaultBackoffMax)
	if r.BudgetRatio == nil {
		v := DefaultBudgetRatio
		r.BudgetRatio = &v
	}
	if r.MinRetries == nil {
		v := DefaultMinRetries
		r.MinRetries = &v
	}
	defaultDuration(&r.BudgetWindow, DefaultBudgetWindow)
	defaultDuration(&r.MaxRetryAfter, DefaultMaxRetryAfter)
}

// Default fills the breaker's zero fields.
func (b *Breaker) Default() {
	defaultDuration(&b.Window, DefaultBreakerWindow)
	if b.MinRequests == 0 {
		b.MinRequests = DefaultMinRequests
	}
	if b.FailureRatio == 0 {
		b.FailureRatio = DefaultFailureRatio
	}
	if b.ConsecutiveFailures == 0 {
		b.ConsecutiveFailures = DefaultConsecutiveFailures
	}
	defaultDuration(&b.OpenDuration, DefaultOpenDuration)
	if b.HalfOpenProbes == 0 {
		b.HalfOpenProbes = DefaultHalfOpenProbes
	}
}

func defaultDuration(d *Duration, def time.Duration) {
	if *d == 0 {
		*d = Duration(def)
	}
}

// dnsLabel keeps names safe in URL paths and metric labels.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// problems collects validation errors with their field paths.
type problems []error

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

// Validate reports every problem of a defaulted document, each prefixed with its field path
// (e.g. "endpoints[0].targets[1].region: required for provider bedrock"), joined with errors.Join.
func (c *Config) Validate() error {
	var p problems
	if c.APIVersion != APIVersion {
		p.add("apiVersion", "must be %q", APIVersion)
	}
	if c.Workload.Namespace == "" {
		p.add("workload.namespace", "required")
	}
	if c.Workload.Name == "" {
		p.add("workload.name", "required")
	}
	switch c.Workload.Criticality {
	case Critical, Standard, Sheddable:
	default:
		p.add("workload.criticality", "must be critical, standard or sheddable, got %q", c.Workload.Criticality)
	}
	names := map[string]bool{}
	for i, e := range c.Endpoints {
		path := fmt.Sprintf("endpoints[%d]", i)
		validateName(&p, path+".name", e.Name)
		if names[e.Name] {
			p.add(path+".name", "duplicate endpoint name %q", e.Name)
		}
		names[e.Name] = true
		e.validate(&p, path)
	}
	endpointNames := names
	names = map[string]bool{}
	for i, b := range c.RetrievalBackends {
		path := fmt.Sprintf("retrievalBackends[%d]", i)
		validateName(&p, path+".name", b.Name)
		if names[b.Name] {
			p.add(path+".name", "duplicate retrieval backend name %q", b.Name)
		}
		names[b.Name] = true
		b.validate(&p, path)
	}
	switch c.Quota.State {
	case QuotaNormal, QuotaWarning, QuotaShedding, QuotaExhausted:
	default:
		p.add("quota.state", "must be Normal, Warning, Shedding or Exhausted, got %q", c.Quota.State)
	}
	if c.Quota.TokensPerMinute < 0 {
		p.add("quota.tokensPerMinute", "must not be negative")
	}
	if c.Quota.OutputTokenClamp < 0 {
		p.add("quota.outputTokenClamp", "must not be negative")
	}
	c.Admission.validate(&p, endpointNames)
	return errors.Join(p...)
}

func (a *Admission) validate(p *problems, endpoints map[string]bool) {
	if st := a.Store; st != nil {
		if len(st.Addresses) == 0 {
			p.add("admission.store.addresses", "at least one host:port is required")
		}
		for i, addr := range st.Addresses {
			if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
				p.add(fmt.Sprintf("admission.store.addresses[%d]", i), "must be host:port, got %q", addr)
			}
		}
		if !st.TLS && (st.CAFile != "" || st.ServerName != "") {
			p.add("admission.store.tls", "must be true when caFile or serverName is set")
		}
		if st.Timeout.D() <= 0 {
			p.add("admission.store.timeout", "must be positive")
		}
	}
	seen := map[string]bool{}
	for i, q := range a.Quotas {
		path := fmt.Sprintf("admission.quotas[%d]", i)
		if q.Namespace == "" || q.Name == "" {
			p.add(path, "namespace and name are required")
		}
		if seen[q.Namespace+"/"+q.Name] {
			p.add(path, "duplicate quota %s/%s", q.Namespace, q.Name)
		}
		seen[q.Namespace+"/"+q.Name] = true
		if len(q.Endpoints) == 0 {
			p.add(path+".endpoints", "at least one endpoint is required")
		}
		for j, e := range q.Endpoints {
			if !endpoints[e] {
				p.add(fmt.Sprintf("%s.endpoints[%d]", path, j), "no endpoint %q in this config", e)
			}
		}
		switch q.Enforcement {
		case EnforcementLocal:
		case EnforcementShared:
			if a.Store == nil {
				p.add(path+".enforcement", "shared needs admission.store")
			}
		default:
			p.add(path+".enforcement", "must be shared or local, got %q", q.Enforcement)
		}
		if q.TokensPerMinute < 0 || q.RequestsPerMinute < 0 {
			p.add(path, "tokensPerMinute and requestsPerMinute must not be negative")
		}
		if q.TokensPerMinute == 0 && q.RequestsPerMinute == 0 {
			p.add(path, "at least one of tokensPerMinute and requestsPerMinute is required")
		}
		if q.ShedPercent < 1 || q.ShedPercent > q.HardPercent || q.HardPercent > 100 {
			p.add(path, "want 1 <= shedPercent <= hardPercent <= 100, got %d and %d", q.ShedPercent, q.HardPercent)
		}
		if q.CriticalReservePercent < 0 || q.CriticalReservePercent > 100 {
			p.add(path+".criticalReservePercent", "must be 0 to 100, got %d", q.CriticalReservePercent)
		}
		if q.Guards < 1 {
			p.add(path+".guards", "must be at least 1")
		}
	}
}

func validateName(p *problems, path, name string) {
	switch {
	case name == "":
		p.add(path, "required")
	case len(name) > 63 || !dnsLabel.MatchString(name):
		p.add(path, "must be a DNS label (lower-case letters, digits and '-', at most 63), got %q", name)
	}
}

func (e *Endpoint) validate(p *problems, path string) {
	switch e.Provider {
	case Bedrock, SageMaker, OpenAI:
	default:
		p.add(path+".provider", "must be bedrock, sagemaker or openai, got %q", e.Provider)
	}
	if len(e.Targets) == 0 {
		p.add(path+".targets", "at least one target is required")
	}
	weighted := false
	names := map[string]bool{}
	for j, t := range e.Targets {
		tp := fmt.Sprintf("%s.targets[%d]", path, j)
		validateName(p, tp+".name", t.Name)
		if names[t.Name] {
			p.add(tp+".name", "duplicate target name %q", t.Name)
		}
		names[t.Name] = true
		if t.Weight < 0 || t.Weight > 100 {
			p.add(tp+".weight", "must be between 0 and 100, got %d", t.Weight)
		}
		if t.Weight > 0 {
			weighted = true
		}
		t.validate(p, tp, e.Provider)
	}
	if len(e.Targets) > 0 && !weighted {
		p.add(path+".targets", "at least one target needs a weight above 0")
	}
	if e.Limits.MaxRequestBytes < 0 {
		p.add(path+".limits.maxRequestBytes", "must not be negative")
	}
	if e.Limits.MaxPromptTokens < 0 {
		p.add(path+".limits.maxPromptTokens", "must not be negative")
	}
	if e.Limits.MaxOutputTokens < 0 {
		p.add(path+".limits.maxOutputTokens", "must not be negative")
	}
	positive(p, path+".timeouts.request", e.Timeouts.Request)
	positive(p, path+".timeouts.firstToken", e.Timeouts.FirstToken)
	positive(p, path+".timeouts.streamIdle", e.Timeouts.StreamIdle)
	e.Retry.validate(p, path+".retry")
	e.Breaker.validate(p, path+".breaker")
}

func (t *Target) validate(p *problems, path string, provider Provider) {
	switch provider {
	case Bedrock:
		required(p, path+".region", t.Region, provider)
		required(p, path+".modelId", t.ModelID, provider)
	case SageMaker:
		required(p, path+".region", t.Region, provider)
		required(p, path+".endpointName", t.EndpointName, provider)
	case OpenAI:
		required(p, path+".url", t.URL, provider)
	}
	if t.URL != "" {
		validateURL(p, path+".url", t.URL)
	}
	if t.APIKeyFile != "" && provider != OpenAI {
		p.add(path+".apiKeyFile", "only for provider openai (AWS targets use the pod's AWS credentials)")
	}
	t.Prices.InputPer1K.validate(p, path+".prices.inputPer1k")
	t.Prices.OutputPer1K.validate(p, path+".prices.outputPer1k")
}

func required(p *problems, path, v string, provider Provider) {
	if v == "" {
		p.add(path, "required for provider %s", provider)
	}
}

func validateURL(p *problems, path, raw string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add(path, "must be an absolute http or https URL")
		return
	}
	if u.RawQuery != "" || u.Fragment != "" {
		p.add(path, "must not have a query or fragment")
	}
}

func positive(p *problems, path string, d Duration) {
	if d <= 0 {
		p.add(path, "must be positive")
	}
}

func (r *Retry) validate(p *problems, path string) {
	if r.MaxAttempts < 1 || r.MaxAttempts > 10 {
		p.add(path+".maxAttempts", "must be between 1 and 10, got %d", r.MaxAttempts)
	}
	positive(p, path+".backoffBase", r.BackoffBase)
	positive(p, path+".backoffMax", r.BackoffMax)
	if r.BackoffBase > r.BackoffMax {
		p.add(path+".backoffBase", "must not exceed backoffMax (%s)", r.BackoffMax.D())
	}
	if r.BudgetRatio != nil && (*r.BudgetRatio < 0 || *r.BudgetRatio > 1) {
		p.add(path+".budgetRatio", "must be between 0 and 1, got %g", *r.BudgetRatio)
	}
	if r.MinRetries != nil && *r.MinRetries < 0 {
		p.add(path+".minRetries", "must not be negative")
	}
	positive(p, path+".budgetWindow", r.BudgetWindow)
	if r.MaxRetryAfter < 0 {
		p.add(path+".maxRetryAfter", "must not be negative")
	}
}

func (b *Breaker) validate(p *problems, path string) {
	positive(p, path+".window", b.Window)
	if b.MinRequests < 1 {
		p.add(path+".minRequests", "must be at least 1")
	}
	if b.FailureRatio <= 0 || b.FailureRatio > 1 {
		p.add(path+".failureRatio", "must be above 0 and at most 1, got %g", b.FailureRatio)
	}
	if b.ConsecutiveFailures < -1 {
		p.add(path+".consecutiveFailures", "must be -1 (off) or positive")
	}
	positive(p, path+".openDuration", b.OpenDuration)
	if b.HalfOpenProbes < 1 {
		p.add(path+".halfOpenProbes", "must be at least 1")
	}
}

func (b *RetrievalBackend) validate(p *problems, path string) {
	switch b.Type {
	case OpenSearch:
		if b.CapField != "" || b.ResultsField != "" {
			p.add(path+".capField", "not used by type opensearch (it caps size and kNN k, and trims hits.hits)")
		}
	case HTTPSearch:
		if b.MaxDocuments > 0 && b.CapField == "" {
			p.add(path+".capField", "required for type http when maxDocuments is set")
		}
	default:
		p.add(path+".type", "must be opensearch or http, got %q", b.Type)
	}
	if b.URL == "" {
		p.add(path+".url", "required")
	} else {
		validateURL(p, path+".url", b.URL)
	}
	for _, f := range []struct{ name, v string }{{"capField", b.CapField}, {"resultsField", b.ResultsField}} {
		if f.v != "" && strings.Contains("."+f.v+".", "..") {
			p.add(path+"."+f.name, "must be a dotted path of field names, got %q", f.v)
		}
	}
	if b.MaxDocuments < 0 {
		p.add(path+".maxDocuments", "must not be negative")
	}
	if b.MaxResponseBytes < 1 {
		p.add(path+".maxResponseBytes", "must be positive")
	}
	positive(p, path+".timeout", b.Timeout)
	switch b.OnFailure {
	case Degrade, Cache, Fail:
	default:
		p.add(path+".onFailure", "must be degrade, cache or fail, got %q", b.OnFailure)
	}
	b.Retry.validate(p, path+".retry")
	b.Breaker.validate(p, path+".breaker")
}

// Duration is a time.Duration written as a Go duration string ("30s") in JSON.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string; numbers are refused because their unit would be a guess.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`duration must be a string such as "30s"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q", s)
	}
	if v < 0 {
		return fmt.Errorf("duration %q must not be negative", s)
	}
	*d = Duration(v)
	return nil
}

// Decimal is a non-negative decimal number of USD written as a string ("0.003").
type Decimal string

var decimalPattern = regexp.MustCompile(`^[0-9]{1,12}(\.[0-9]{1,12})?$`)

func (d Decimal) validate(p *problems, path string) {
	if d != "" && !decimalPattern.MatchString(string(d)) {
		p.add(path, "must be a non-negative decimal string such as \"0.003\", got %q", string(d))
	}
}

// Rat returns the exact value (0 when empty); call it only on a validated document.
func (d Decimal) Rat() *big.Rat {
	r := new(big.Rat)
	if d != "" {
		if _, ok := r.SetString(string(d)); !ok {
			return new(big.Rat)
		}
	}
	return r
}

// PerToken returns the price of one token given a price per 1000 tokens, as a float64 for
// accumulating into a Prometheus counter (the document itself never holds a float).
func (d Decimal) PerToken() float64 {
	f, _ := new(big.Rat).Quo(d.Rat(), big.NewRat(1000, 1)).Float64()
	return f
}

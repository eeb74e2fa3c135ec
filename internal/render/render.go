// Package render turns a GenAIWorkload and the Breakwater objects it references into the guard's
// config document (internal/guardconfig). It is pure: no API client and no clock, so the whole
// mapping from CRDs to the guard contract is tested with tables, and the reconciler only gathers
// inputs and writes the result.
package render

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/internal/policy"
)

// SecretMountRoot is the folder under which the guard container gets the Secrets its targets name.
// The webhook mounts Secret <name> at SecretMountRoot/<name>, so the renderer and the webhook agree
// on every file path without talking to each other.
const SecretMountRoot = "/var/run/breakwater/secrets"

// DefaultSecretKey is the Secret key used when an apiKeySecretRef names none (the CRD default).
const DefaultSecretKey = "api-key"

// retryBudgetWindow is the window the CRD's retry budgetPercent is defined over ("the requests of
// the last 10 seconds"); the guard takes it explicitly.
const retryBudgetWindow = guardconfig.Duration(10 * time.Second)

// hashLength is how many hex digits of the sha256 are kept: 64 bits tell configs apart and stay
// short enough for a pod annotation and a status column.
const hashLength = 16

// SecretMountPath is the folder the webhook mounts Secret secretName at in the guard container.
func SecretMountPath(secretName string) string {
	return path.Join(SecretMountRoot, secretName)
}

// SecretKeyPath is the file holding one key of a mounted Secret.
func SecretKeyPath(secretName, key string) string {
	if key == "" {
		key = DefaultSecretKey
	}
	return path.Join(SecretMountPath(secretName), key)
}

// ConfigMapName is the name of the ConfigMap (and of its Role and RoleBinding) holding a
// workload's rendered guard config.
func ConfigMapName(workloadName string) string {
	return workloadName + "-guard"
}

// Inputs is everything a workload's guard config is made of. Maps are keyed by object name, all in
// the workload's namespace; references that are absent from them are left out of the config (the
// reconciler reports them as conditions).
type Inputs struct {
	// Workload is the GenAIWorkload being rendered.
	Workload *breakwaterv1alpha1.GenAIWorkload
	// Endpoints are the ModelEndpoints the workload names that exist.
	Endpoints map[string]*breakwaterv1alpha1.ModelEndpoint
	// Backends are the RetrievalBackends the workload names that exist.
	Backends map[string]*breakwaterv1alpha1.RetrievalBackend
	// Quotas are the TokenQuotas covering at least one of the workload's endpoints.
	Quotas []breakwaterv1alpha1.TokenQuota
	// Policies are the FailoverPolicies steering the workload's endpoints; their current weights
	// replace the endpoints' spec weights.
	Policies []breakwaterv1alpha1.FailoverPolicy
	// AdmissionStore is the store the guards share quota budgets in, as this workload's guards
	// reach it; nil: none, and quotas are enforced locally.
	AdmissionStore *guardconfig.AdmissionStore
}

// Result is a rendered guard config.
type Result struct {
	// Config is the document.
	Config *guardconfig.Config
	// Data is the document as written to the ConfigMap under guardconfig.ConfigMapKey.
	Data []byte
	// Hash identifies Data: the first hex digits of its sha256.
	Hash string
}

// Render builds the workload's guard config and checks it the way the guard will (strict decoding,
// defaults, Validate), so that a config the guard would refuse never reaches a ConfigMap.
func Render(in Inputs) (*Result, error) {
	cfg := Config(in)
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding the guard config: %w", err)
	}
	if _, err := guardconfig.Parse(data); err != nil {
		return nil, fmt.Errorf("the rendered guard config is invalid: %w", err)
	}
	return &Result{Config: cfg, Data: data, Hash: Hash(data)}, nil
}

// Hash returns the content hash of a rendered document. encoding/json writes struct fields in a
// fixed order and the renderer sorts every list whose order carries no meaning, so equal inputs
// give equal bytes and equal hashes.
func Hash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:hashLength]
}

// Config maps the inputs onto the guard's document without validating it.
func Config(in Inputs) *guardconfig.Config {
	w := in.Workload
	cfg := &guardconfig.Config{
		APIVersion: guardconfig.APIVersion,
		Workload: guardconfig.Workload{
			Namespace:   w.Namespace,
			Name:        w.Name,
			Criticality: guardconfig.Criticality(w.Spec.Criticality),
		},
		Quota:     quota(in.Quotas, in.Endpoints),
		Admission: admission(in),
	}
	// Sorted by name: the guard routes by name, so order carries no meaning and sorting keeps the
	// hash stable when a user reorders the list.
	for _, name := range sortedRefs(w.Spec.ModelEndpoints) {
		if me, ok := in.Endpoints[name]; ok {
			cfg.Endpoints = append(cfg.Endpoints, endpoint(me, policy.SteeringPolicy(in.Policies, name)))
		}
	}
	for _, name := range sortedRefs(w.Spec.RetrievalBackends) {
		if rb, ok := in.Backends[name]; ok {
			cfg.RetrievalBackends = append(cfg.RetrievalBackends, backend(rb))
		}
	}
	return cfg
}

func sortedRefs(refs []breakwaterv1alpha1.LocalObjectReference) []string {
	names := make([]string, 0, len(refs))
	for _, r := range refs {
		names = append(names, r.Name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// endpoint maps a ModelEndpoint; steering is the FailoverPolicy whose weights its guards use (nil
// for none).
func endpoint(me *breakwaterv1alpha1.ModelEndpoint, steering *breakwaterv1alpha1.FailoverPolicy) guardconfig.Endpoint {
	s := me.Spec
	e := guardconfig.Endpoint{
		Name:     me.Name,
		Provider: guardconfig.Provider(s.Provider),
		Limits: guardconfig.Limits{
			MaxRequestBytes: s.Limits.MaxRequestBytes,
			MaxPromptTokens: deref(s.Limits.MaxPromptTokens),
			MaxOutputTokens: deref(s.Limits.MaxOutputTokens),
		},
		Timeouts: guardconfig.Timeouts{
			Request:    duration(s.Timeouts.Request),
			StreamIdle: duration(s.Timeouts.StreamIdle),
		},
		Retry:   retry(s.Retry),
		Breaker: breaker(s.CircuitBreaker),
	}
	if s.Timeouts.FirstToken != nil {
		e.Timeouts.FirstToken = duration(*s.Timeouts.FirstToken)
	} else {
		// The CRD's "unset: only request applies" is a first-token wait as long as the request;
		// leaving it zero would give the guard's own, shorter default instead.
		e.Timeouts.FirstToken = e.Timeouts.Request
	}
	// The policy's weights apply only when they are in force (policy.PolicyWeights); otherwise they
	// are stale (the endpoint changed since) and the spec's relative weights are the better truth.
	var weights map[string]int32
	usePolicy := false
	if steering != nil {
		weights, usePolicy = policy.PolicyWeights(steering.Status.Weights, s.Targets)
	}
	for _, t := range s.Targets {
		gt := target(s.Provider, t)
		if usePolicy {
			gt.Weight = int(weights[t.Name])
		}
		e.Targets = append(e.Targets, gt)
	}
	return e
}

func target(p breakwaterv1alpha1.Provider, t breakwaterv1alpha1.ModelTarget) guardconfig.Target {
	gt := guardconfig.Target{
		Name:         t.Name,
		Weight:       int(policy.TargetWeight(t)),
		Region:       t.Region,
		ModelID:      t.ModelID,
		EndpointName: t.EndpointName,
	}
	if p == breakwaterv1alpha1.ProviderOpenAI {
		gt.URL = openAIBase(t.URL)
		if t.APIKeySecretRef != nil {
			gt.APIKeyFile = SecretKeyPath(t.APIKeySecretRef.Name, t.APIKeySecretRef.Key)
		}
	} else {
		gt.URL = t.EndpointURL
	}
	if t.Price != nil {
		gt.Prices = guardconfig.Prices{
			InputPer1K:  guardconfig.Decimal(t.Price.InputPer1kTokens),
			OutputPer1K: guardconfig.Decimal(t.Price.OutputPer1kTokens),
		}
	}
	return gt
}

// openAIBase turns the CRD's server URL (the guard appends /v1/chat/completions, ...) into the
// guard's base URL, which includes the version path. A URL that already ends in /v1 is kept, since
// that is how most hosted APIs document their base URL.
func openAIBase(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		// Left as is: the guard config's validation reports it with its field path.
		return raw
	}
	p := strings.TrimRight(u.Path, "/")
	if !strings.HasSuffix(p, "/v1") {
		p += "/v1"
	}
	u.Path = p
	u.RawPath = ""
	return u.String()
}

func retry(r breakwaterv1alpha1.RetryPolicy) guardconfig.Retry {
	gr := guardconfig.Retry{
		MaxAttempts:   int(r.MaxAttempts),
		BackoffBase:   duration(r.BackoffBase),
		BackoffMax:    duration(r.BackoffMax),
		BudgetWindow:  retryBudgetWindow,
		MaxRetryAfter: duration(r.MaxRetryAfter),
	}
	if r.BudgetPercent != nil {
		v := float64(*r.BudgetPercent) / 100
		gr.BudgetRatio = &v
	}
	if r.MinRetriesPerWindow != nil {
		v := int(*r.MinRetriesPerWindow)
		gr.MinRetries = &v
	}
	return gr
}

func breaker(b breakwaterv1alpha1.CircuitBreaker) guardconfig.Breaker {
	gb := guardconfig.Breaker{
		Window:         duration(b.Window),
		MinRequests:    int(b.MinRequests),
		FailureRatio:   float64(b.FailureRatePercent) / 100,
		OpenDuration:   duration(b.OpenDuration),
		HalfOpenProbes: int(b.HalfOpenProbes),
	}
	if b.ConsecutiveFailures != nil {
		// The CRD turns the check off with 0; the guard reads 0 as "default" and -1 as off.
		gb.ConsecutiveFailures = int(*b.ConsecutiveFailures)
		if gb.ConsecutiveFailures == 0 {
			gb.ConsecutiveFailures = -1
		}
	}
	return gb
}

func backend(rb *breakwaterv1alpha1.RetrievalBackend) guardconfig.RetrievalBackend {
	s := rb.Spec
	b := guardconfig.RetrievalBackend{
		Name:             rb.Name,
		Type:             guardconfig.RetrievalType(s.Type),
		URL:              s.URL,
		MaxDocuments:     int(s.MaxDocuments),
		MaxResponseBytes: s.MaxResponseBytes,
		Timeout:          duration(s.Timeout),
		Retry:            retry(s.Retry),
		Breaker:          breaker(s.CircuitBreaker),
		OnFailure:        guardconfig.OnFailure(s.OnFailure.Mode),
	}
	// The field paths only mean something to an http backend; an opensearch backend caps size and
	// k itself, and the guard refuses field paths for it.
	if s.Type == breakwaterv1alpha1.RetrievalHTTP {
		b.CapField = s.CountField
		b.ResultsField = s.DocumentsField
	}
	if b.OnFailure == "" {
		// The CRD's default; the guard's own default (fail) would be the opposite choice.
		b.OnFailure = guardconfig.Degrade
	}
	return b
}

// quota hands the guard the strictest state among the enforcing quotas covering the workload's
// endpoints, and the output-token clamp that state calls for (internal/policy's rule, from the
// smallest maxOutputTokens of those endpoints). A quota in shadow mode decides and records, but
// never reaches the guards. The local token allowance stays 0 (no local limit): splitting a budget
// between guards needs per-guard usage, which the control loops do not hand down yet.
func quota(quotas []breakwaterv1alpha1.TokenQuota, endpoints map[string]*breakwaterv1alpha1.ModelEndpoint) guardconfig.Quota {
	state := breakwaterv1alpha1.QuotaNormal
	for _, q := range quotas {
		if q.Spec.Mode == breakwaterv1alpha1.ModeShadow {
			continue
		}
		if policy.QuotaSeverity(q.Status.State) > policy.QuotaSeverity(state) {
			state = q.Status.State
		}
	}
	var smallest int64
	for _, ep := range endpoints {
		if m := ep.Spec.Limits.MaxOutputTokens; m != nil && (smallest == 0 || *m < smallest) {
			smallest = *m
		}
	}
	return guardconfig.Quota{State: guardconfig.QuotaState(state), OutputTokenClamp: policy.OutputTokenClamp(state, smallest)}
}

// QuotaEnforcement is the enforcement at the request a quota gets: its spec's, else shared with a
// store and off without one (each guard on an even share of the limits refuses traffic that the
// fleet as a whole has room for, so it is chosen, not defaulted); shared without a store falls
// back to local. Shadow quotas and quotas with no per-minute limit are not enforced at the request.
func QuotaEnforcement(q *breakwaterv1alpha1.TokenQuota, haveStore bool) breakwaterv1alpha1.Enforcement {
	tpm, rpm := admissionLimits(q)
	if q.Spec.Mode == breakwaterv1alpha1.ModeShadow || (tpm == 0 && rpm == 0) {
		return breakwaterv1alpha1.EnforcementOff
	}
	switch e := q.Spec.Admission.Enforcement; {
	case e == breakwaterv1alpha1.EnforcementOff, e == "" && !haveStore:
		return breakwaterv1alpha1.EnforcementOff
	case e == breakwaterv1alpha1.EnforcementLocal || !haveStore:
		return breakwaterv1alpha1.EnforcementLocal
	}
	return breakwaterv1alpha1.EnforcementShared
}

// admissionLimits are the per-minute limits in force: tokens from Service Quotas when it is the
// source (status.effectiveTokensPerMinute), else the spec's.
func admissionLimits(q *breakwaterv1alpha1.TokenQuota) (tpm, rpm int64) {
	tpm = deref(q.Spec.Limits.TokensPerMinute)
	if q.Spec.ServiceQuota != nil {
		tpm = deref(q.Status.EffectiveTokensPerMinute)
	}
	return tpm, deref(q.Spec.Limits.RequestsPerMinute)
}

// admission hands the guard every quota it enforces at the request: the quota's per-minute limits
// and thresholds, the endpoints of this workload it covers, and the number of guards it covers
// (from the quota's status, at least this workload's injected pods) for the local share.
func admission(in Inputs) guardconfig.Admission {
	var a guardconfig.Admission
	quotas := slices.Clone(in.Quotas)
	slices.SortFunc(quotas, func(x, y breakwaterv1alpha1.TokenQuota) int { return strings.Compare(x.Name, y.Name) })
	shared := false
	for i := range quotas {
		q := &quotas[i]
		enforcement := QuotaEnforcement(q, in.AdmissionStore != nil)
		if enforcement == breakwaterv1alpha1.EnforcementOff {
			continue
		}
		var endpoints []string
		for _, name := range sortedRefs(q.Spec.Endpoints) {
			if _, ok := in.Endpoints[name]; ok {
				endpoints = append(endpoints, name)
			}
		}
		if len(endpoints) == 0 {
			continue
		}
		tpm, rpm := admissionLimits(q)
		guards := int64(max(in.Workload.Status.InjectedPods, 1))
		if st := q.Status.Admission; st != nil {
			guards = max(guards, int64(st.Guards))
		}
		reserve := int64(q.Spec.Admission.CriticalReservePercent)
		aq := guardconfig.AdmissionQuota{
			Namespace: q.Namespace, Name: q.Name, Endpoints: endpoints,
			Enforcement:     guardconfig.Enforcement(enforcement),
			TokensPerMinute: tpm, RequestsPerMinute: rpm,
			ShedPercent: int64(q.Spec.Thresholds.ShedPercent), HardPercent: int64(q.Spec.Thresholds.HardPercent),
			CriticalReservePercent: reserve, Guards: guards,
		}
		a.Quotas = append(a.Quotas, aq)
		shared = shared || enforcement == breakwaterv1alpha1.EnforcementShared
	}
	if shared {
		a.Store = in.AdmissionStore
	}
	return a
}

func duration(d metav1.Duration) guardconfig.Duration { return guardconfig.Duration(d.Duration) }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

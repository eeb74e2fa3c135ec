package render

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	bw "github.com/breakwater-dev/breakwater/api/v1alpha1"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/internal/sidecar"
)

const ns = "shop"

func dur(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }
func ptr[T any](v T) *T                   { return &v }

// defaultedRetry and defaultedBreaker are what the API server stores when the spec leaves them out.
func defaultedRetry() bw.RetryPolicy {
	return bw.RetryPolicy{MaxAttempts: 3, BackoffBase: dur(200 * time.Millisecond), BackoffMax: dur(5 * time.Second),
		BudgetPercent: ptr[int32](20), MinRetriesPerWindow: ptr[int32](3), MaxRetryAfter: dur(10 * time.Second)}
}

func defaultedBreaker() bw.CircuitBreaker {
	return bw.CircuitBreaker{FailureRatePercent: 50, MinRequests: 20, Window: dur(30 * time.Second),
		ConsecutiveFailures: ptr[int32](5), OpenDuration: dur(30 * time.Second), HalfOpenProbes: 1}
}

func wantRetry() guardconfig.Retry {
	return guardconfig.Retry{MaxAttempts: 3, BackoffBase: guardconfig.Duration(200 * time.Millisecond),
		BackoffMax: guardconfig.Duration(5 * time.Second), BudgetRatio: ptr(0.2), MinRetries: ptr(3),
		BudgetWindow: guardconfig.Duration(10 * time.Second), MaxRetryAfter: guardconfig.Duration(10 * time.Second)}
}

func wantBreaker() guardconfig.Breaker {
	return guardconfig.Breaker{Window: guardconfig.Duration(30 * time.Second), MinRequests: 20, FailureRatio: 0.5,
		ConsecutiveFailures: 5, OpenDuration: guardconfig.Duration(30 * time.Second), HalfOpenProbes: 1}
}

func bedrock() *bw.ModelEndpoint {
	return &bw.ModelEndpoint{
		ObjectMeta: metav1.ObjectMeta{Name: "claude", Namespace: ns},
		Spec: bw.ModelEndpointSpec{
			Provider: bw.ProviderBedrock,
			Targets: []bw.ModelTarget{
				{Name: "us-east-1", Weight: ptr[int32](100), Region: "us-east-1", ModelID: "us.anthropic.claude",
					Price: &bw.TokenPrice{InputPer1kTokens: "0.0008", OutputPer1kTokens: "0.004"}},
				{Name: "us-west-2", Weight: ptr[int32](0), Region: "us-west-2", ModelID: "us.anthropic.claude",
					EndpointURL: "https://vpce-1.bedrock-runtime.us-west-2.vpce.amazonaws.com"},
			},
			Limits:         bw.ModelLimits{MaxRequestBytes: 10485760, MaxPromptTokens: ptr[int64](50000), MaxOutputTokens: ptr[int64](2048)},
			Timeouts:       bw.ModelTimeouts{Request: dur(120 * time.Second), FirstToken: ptr(dur(15 * time.Second)), StreamIdle: dur(30 * time.Second)},
			Retry:          defaultedRetry(),
			CircuitBreaker: defaultedBreaker(),
		},
	}
}

func wantBedrock() guardconfig.Endpoint {
	return guardconfig.Endpoint{
		Name: "claude", Provider: guardconfig.Bedrock,
		Targets: []guardconfig.Target{
			{Name: "us-east-1", Weight: 100, Region: "us-east-1", ModelID: "us.anthropic.claude",
				Prices: guardconfig.Prices{InputPer1K: "0.0008", OutputPer1K: "0.004"}},
			{Name: "us-west-2", Weight: 0, Region: "us-west-2", ModelID: "us.anthropic.claude",
				URL: "https://vpce-1.bedrock-runtime.us-west-2.vpce.amazonaws.com"},
		},
		Limits: guardconfig.Limits{MaxRequestBytes: 10485760, MaxPromptTokens: 50000, MaxOutputTokens: 2048},
		Timeouts: guardconfig.Timeouts{Request: guardconfig.Duration(120 * time.Second),
			FirstToken: guardconfig.Duration(15 * time.Second), StreamIdle: guardconfig.Duration(30 * time.Second)},
		Retry:   wantRetry(),
		Breaker: wantBreaker(),
	}
}

func vllm() *bw.ModelEndpoint {
	return &bw.ModelEndpoint{
		ObjectMeta: metav1.ObjectMeta{Name: "llama", Namespace: ns},
		Spec: bw.ModelEndpointSpec{
			Provider: bw.ProviderOpenAI,
			Targets: []bw.ModelTarget{
				{Name: "vllm", Weight: ptr[int32](100), URL: "http://vllm.models.svc:8000/", APIKeySecretRef: &bw.SecretKeyReference{Name: "vllm-key", Key: "api-key"}},
				{Name: "hosted", Weight: ptr[int32](100), URL: "https://api.example.com/v1", ModelID: "llama-3-8b",
					APIKeySecretRef: &bw.SecretKeyReference{Name: "hosted", Key: "token"}},
			},
			Limits:   bw.ModelLimits{MaxRequestBytes: 1048576},
			Timeouts: bw.ModelTimeouts{Request: dur(300 * time.Second), StreamIdle: dur(60 * time.Second)},
			Retry:    bw.RetryPolicy{MaxAttempts: 1, BackoffBase: dur(time.Second), BackoffMax: dur(time.Second), BudgetPercent: ptr[int32](0), MinRetriesPerWindow: ptr[int32](0), MaxRetryAfter: dur(time.Second)},
			CircuitBreaker: bw.CircuitBreaker{FailureRatePercent: 100, MinRequests: 1, Window: dur(time.Minute),
				ConsecutiveFailures: ptr[int32](0), OpenDuration: dur(time.Minute), HalfOpenProbes: 2},
		},
	}
}

func wantVLLM() guardconfig.Endpoint {
	return guardconfig.Endpoint{
		Name: "llama", Provider: guardconfig.OpenAI,
		Targets: []guardconfig.Target{
			{Name: "vllm", Weight: 100, URL: "http://vllm.models.svc:8000/v1", APIKeyFile: "/var/run/breakwater/secrets/vllm-key/api-key"},
			{Name: "hosted", Weight: 100, URL: "https://api.example.com/v1", ModelID: "llama-3-8b", APIKeyFile: "/var/run/breakwater/secrets/hosted/token"},
		},
		Limits: guardconfig.Limits{MaxRequestBytes: 1048576},
		// firstToken unset in the CRD means only the request deadline applies.
		Timeouts: guardconfig.Timeouts{Request: guardconfig.Duration(300 * time.Second),
			FirstToken: guardconfig.Duration(300 * time.Second), StreamIdle: guardconfig.Duration(60 * time.Second)},
		Retry: guardconfig.Retry{MaxAttempts: 1, BackoffBase: guardconfig.Duration(time.Second), BackoffMax: guardconfig.Duration(time.Second),
			BudgetRatio: ptr(0.0), MinRetries: ptr(0), BudgetWindow: guardconfig.Duration(10 * time.Second), MaxRetryAfter: guardconfig.Duration(time.Second)},
		Breaker: guardconfig.Breaker{Window: guardconfig.Duration(time.Minute), MinRequests: 1, FailureRatio: 1,
			ConsecutiveFailures: -1, OpenDuration: guardconfig.Duration(time.Minute), HalfOpenProbes: 2},
	}
}

func sagemaker() *bw.ModelEndpoint {
	return &bw.ModelEndpoint{
		ObjectMeta: metav1.ObjectMeta{Name: "mistral", Namespace: ns},
		Spec: bw.ModelEndpointSpec{
			Provider: bw.ProviderSageMaker,
			Targets: []bw.ModelTarget{{Name: "primary", Weight: ptr[int32](100), Region: "eu-west-1", EndpointName: "mistral-7b",
				EndpointURL: "http://127.0.0.1:9000"}},
			Limits:         bw.ModelLimits{MaxRequestBytes: 10485760},
			Timeouts:       bw.ModelTimeouts{Request: dur(60 * time.Second), StreamIdle: dur(60 * time.Second)},
			Retry:          defaultedRetry(),
			CircuitBreaker: defaultedBreaker(),
		},
	}
}

func wantSageMaker() guardconfig.Endpoint {
	return guardconfig.Endpoint{
		Name: "mistral", Provider: guardconfig.SageMaker,
		Targets: []guardconfig.Target{{Name: "primary", Weight: 100, Region: "eu-west-1", EndpointName: "mistral-7b", URL: "http://127.0.0.1:9000"}},
		Limits:  guardconfig.Limits{MaxRequestBytes: 10485760},
		Timeouts: guardconfig.Timeouts{Request: guardconfig.Duration(time.Minute), FirstToken: guardconfig.Duration(time.Minute),
			StreamIdle: guardconfig.Duration(time.Minute)},
		Retry: wantRetry(), Breaker: wantBreaker(),
	}
}

func opensearch() *bw.RetrievalBackend {
	return &bw.RetrievalBackend{
		ObjectMeta: metav1.ObjectMeta{Name: "docs", Namespace: ns},
		Spec: bw.RetrievalBackendSpec{
			Type: bw.RetrievalOpenSearch, URL: "https://opensearch.search.svc:9200",
			// Ignored for opensearch: the guard refuses field paths on that type.
			CountField: "top_k", MaxDocuments: 20, MaxResponseBytes: 8388608, Timeout: dur(2 * time.Second),
			Retry: defaultedRetry(), CircuitBreaker: defaultedBreaker(), OnFailure: bw.RetrievalFailurePolicy{Mode: bw.FailureDegrade},
		},
	}
}

func wantOpenSearch() guardconfig.RetrievalBackend {
	return guardconfig.RetrievalBackend{Name: "docs", Type: guardconfig.OpenSearch, URL: "https://opensearch.search.svc:9200",
		MaxDocuments: 20, MaxResponseBytes: 8388608, Timeout: guardconfig.Duration(2 * time.Second),
		Retry: wantRetry(), Breaker: wantBreaker(), OnFailure: guardconfig.Degrade}
}

func httpSearch() *bw.RetrievalBackend {
	return &bw.RetrievalBackend{
		ObjectMeta: metav1.ObjectMeta{Name: "kb", Namespace: ns},
		Spec: bw.RetrievalBackendSpec{
			Type: bw.RetrievalHTTP, URL: "http://kb.search:8080", CountField: "query.top_k", DocumentsField: "results",
			MaxDocuments: 10, MaxResponseBytes: 1024, Timeout: dur(time.Second), Retry: defaultedRetry(), CircuitBreaker: defaultedBreaker(),
			OnFailure: bw.RetrievalFailurePolicy{Mode: bw.FailureCache, CacheTTL: ptr(dur(5 * time.Minute))},
		},
	}
}

func wantHTTPSearch() guardconfig.RetrievalBackend {
	return guardconfig.RetrievalBackend{Name: "kb", Type: guardconfig.HTTPSearch, URL: "http://kb.search:8080",
		CapField: "query.top_k", ResultsField: "results", MaxDocuments: 10, MaxResponseBytes: 1024,
		Timeout: guardconfig.Duration(time.Second), Retry: wantRetry(), Breaker: wantBreaker(), OnFailure: guardconfig.Cache}
}

func workload(crit bw.Criticality, endpoints, backends []string) *bw.GenAIWorkload {
	w := &bw.GenAIWorkload{ObjectMeta: metav1.ObjectMeta{Name: "assistant", Namespace: ns}}
	w.Spec.Criticality = crit
	for _, e := range endpoints {
		w.Spec.ModelEndpoints = append(w.Spec.ModelEndpoints, bw.LocalObjectReference{Name: e})
	}
	for _, b := range backends {
		w.Spec.RetrievalBackends = append(w.Spec.RetrievalBackends, bw.LocalObjectReference{Name: b})
	}
	return w
}

func endpoints(es ...*bw.ModelEndpoint) map[string]*bw.ModelEndpoint {
	m := map[string]*bw.ModelEndpoint{}
	for _, e := range es {
		m[e.Name] = e
	}
	return m
}

func backends(bs ...*bw.RetrievalBackend) map[string]*bw.RetrievalBackend {
	m := map[string]*bw.RetrievalBackend{}
	for _, b := range bs {
		m[b.Name] = b
	}
	return m
}

func quotaIn(name string, state bw.QuotaState) bw.TokenQuota {
	return bw.TokenQuota{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Status: bw.TokenQuotaStatus{State: state}}
}

func failoverPolicy(name, endpoint string, ready metav1.ConditionStatus, weights map[string]int32) bw.FailoverPolicy {
	p := bw.FailoverPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	p.Spec.EndpointRef.Name = endpoint
	p.Status.Conditions = []metav1.Condition{{Type: bw.ConditionReady, Status: ready, Reason: bw.ReasonReconciled}}
	for t, w := range weights {
		p.Status.Weights = append(p.Status.Weights, bw.TargetWeight{Target: t, Weight: w})
	}
	return p
}

func header(crit guardconfig.Criticality) guardconfig.Config {
	return guardconfig.Config{APIVersion: guardconfig.APIVersion,
		Workload: guardconfig.Workload{Namespace: ns, Name: "assistant", Criticality: crit},
		Quota:    guardconfig.Quota{State: guardconfig.QuotaNormal}}
}

func TestRender(t *testing.T) {
	withWeights := func(e guardconfig.Endpoint, w ...int) guardconfig.Endpoint {
		e.Targets = append([]guardconfig.Target(nil), e.Targets...)
		for i := range w {
			e.Targets[i].Weight = w[i]
		}
		return e
	}
	tests := []struct {
		name string
		in   Inputs
		want func(c *guardconfig.Config)
	}{{
		name: "bedrock endpoint and opensearch backend",
		in: Inputs{Workload: workload(bw.CriticalitySheddable, []string{"claude"}, []string{"docs"}),
			Endpoints: endpoints(bedrock()), Backends: backends(opensearch())},
		want: func(c *guardconfig.Config) {
			*c = header(guardconfig.Sheddable)
			c.Endpoints = []guardconfig.Endpoint{wantBedrock()}
			c.RetrievalBackends = []guardconfig.RetrievalBackend{wantOpenSearch()}
		},
	}, {
		name: "every provider and backend type, sorted by name whatever the spec order",
		in: Inputs{Workload: workload(bw.CriticalityCritical, []string{"mistral", "llama", "claude"}, []string{"kb", "docs"}),
			Endpoints: endpoints(bedrock(), vllm(), sagemaker()), Backends: backends(opensearch(), httpSearch())},
		want: func(c *guardconfig.Config) {
			*c = header(guardconfig.Critical)
			c.Endpoints = []guardconfig.Endpoint{wantBedrock(), wantVLLM(), wantSageMaker()}
			c.RetrievalBackends = []guardconfig.RetrievalBackend{wantOpenSearch(), wantHTTPSearch()}
		},
	}, {
		name: "missing references are left out",
		in: Inputs{Workload: workload(bw.CriticalityStandard, []string{"claude", "gone"}, []string{"nowhere"}),
			Endpoints: endpoints(bedrock())},
		want: func(c *guardconfig.Config) {
			*c = header(guardconfig.Standard)
			c.Endpoints = []guardconfig.Endpoint{wantBedrock()}
		},
	}, {
		name: "the strictest covering quota state wins",
		in: Inputs{Workload: workload(bw.CriticalityStandard, []string{"claude"}, nil), Endpoints: endpoints(bedrock()),
			Quotas: []bw.TokenQuota{quotaIn("a", bw.QuotaWarning), quotaIn("b", bw.QuotaShedding), quotaIn("c", "")}},
		want: func(c *guardconfig.Config) {
			*c = header(guardconfig.Standard)
			c.Endpoints = []guardconfig.Endpoint{wantBedrock()}
			c.Quota.State = guardconfig.QuotaShedding
			c.Quota.OutputTokenClamp = 1024 // internal/policy's clamp when no endpoint sets maxOutputTokens
		},
	}, {
		name: "a quota in shadow mode decides but never reaches the guards",
		in: Inputs{Workload: workload(bw.CriticalityStandard, []string{"claude"}, nil), Endpoints: endpoints(bedrock()),
			Quotas: []bw.TokenQuota{func() bw.TokenQuota {
				q := quotaIn("shadow", bw.QuotaExhausted)
				q.Spec.Mode = bw.ModeShadow
				return q
			}()}},
		want: func(c *guardconfig.Config) {
			*c = header(guardconfig.Standard)
			c.Endpoints = []guardconfig.Endpoint{wantBedrock()}
		},
	}, {
		name: "a ready failover policy's weights replace the spec's",
		in: Inputs{Workload: workload(bw.CriticalityStandard, []string{"claude"}, nil), Endpoints: endpoints(bedrock()),
			Policies: []bw.FailoverPolicy{
				failoverPolicy("z-later", "claude", metav1.ConditionTrue, map[string]int32{"us-east-1": 0, "us-west-2": 100}),
				failoverPolicy("a-first", "claude", metav1.ConditionTrue, map[string]int32{"us-east-1": 50, "us-west-2": 50}),
			}},
		want: func(c *guardconfig.Config) {
			*c = header(guardconfig.Standard)
			c.Endpoints = []guardconfig.Endpoint{withWeights(wantBedrock(), 50, 50)}
		},
	}, {
		name: "weights of a policy that is not ready, or that misses a target, are ignored",
		in: Inputs{Workload: workload(bw.CriticalityStandard, []string{"claude", "llama"}, nil), Endpoints: endpoints(bedrock(), vllm()),
			Policies: []bw.FailoverPolicy{
				failoverPolicy("p1", "claude", metav1.ConditionFalse, map[string]int32{"us-east-1": 0, "us-west-2": 100}),
				failoverPolicy("p2", "llama", metav1.ConditionTrue, map[string]int32{"vllm": 100}),
			}},
		want: func(c *guardconfig.Config) {
			*c = header(guardconfig.Standard)
			c.Endpoints = []guardconfig.Endpoint{wantBedrock(), wantVLLM()}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Render(tt.in)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			want := &guardconfig.Config{}
			tt.want(want)
			if diff := cmp.Diff(want, res.Config); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			// What the guard reads back is the same document, and it passes the guard's checks.
			parsed, err := guardconfig.Parse(res.Data)
			if err != nil {
				t.Fatalf("the guard refuses the rendered config: %v", err)
			}
			want.Default()
			if err := want.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
			if diff := cmp.Diff(want, parsed); diff != "" {
				t.Errorf("parsed config (-want +got):\n%s", diff)
			}
			if got, again := res.Hash, Hash(res.Data); got != again || len(got) != hashLength {
				t.Errorf("hash %q, recomputed %q", got, again)
			}
		})
	}
}

func TestRenderRefusesWhatTheGuardWouldRefuse(t *testing.T) {
	bad := vllm()
	bad.Spec.Targets[0].URL = "http://vllm.models.svc:8000/?tenant=a"
	_, err := Render(Inputs{Workload: workload(bw.CriticalityStandard, []string{"llama"}, nil), Endpoints: endpoints(bad)})
	if err == nil || !strings.Contains(err.Error(), "endpoints[0].targets[0].url: must not have a query or fragment") {
		t.Fatalf("error = %v, want the guard's message for a URL with a query", err)
	}
}

func TestHashFollowsContent(t *testing.T) {
	base := Inputs{Workload: workload(bw.CriticalityStandard, []string{"claude", "llama"}, []string{"docs"}),
		Endpoints: endpoints(bedrock(), vllm()), Backends: backends(opensearch())}
	hash := func(in Inputs) string {
		t.Helper()
		res, err := Render(in)
		if err != nil {
			t.Fatal(err)
		}
		return res.Hash
	}
	want := hash(base)

	reordered := base
	reordered.Workload = workload(bw.CriticalityStandard, []string{"llama", "claude"}, []string{"docs"})
	if got := hash(reordered); got != want {
		t.Errorf("reordering the references changed the hash: %s, want %s", got, want)
	}

	changes := map[string]func(in *Inputs){
		"price": func(in *Inputs) {
			e := bedrock()
			e.Spec.Targets[0].Price.OutputPer1kTokens = "0.005"
			in.Endpoints = endpoints(e, vllm())
		},
		"backend timeout": func(in *Inputs) {
			b := opensearch()
			b.Spec.Timeout = dur(3 * time.Second)
			in.Backends = backends(b)
		},
		"quota state": func(in *Inputs) { in.Quotas = []bw.TokenQuota{quotaIn("q", bw.QuotaWarning)} },
		"policy weights": func(in *Inputs) {
			in.Policies = []bw.FailoverPolicy{failoverPolicy("p", "claude", metav1.ConditionTrue, map[string]int32{"us-east-1": 40, "us-west-2": 60})}
		},
		"criticality": func(in *Inputs) {
			in.Workload = workload(bw.CriticalityCritical, []string{"claude", "llama"}, []string{"docs"})
		},
	}
	for name, change := range changes {
		in := base
		change(&in)
		if got := hash(in); got == want {
			t.Errorf("changing the %s kept the hash %s", name, got)
		}
	}
}

func TestSecretKeyPath(t *testing.T) {
	if got, want := SecretKeyPath("vllm", ""), "/var/run/breakwater/secrets/vllm/api-key"; got != want {
		t.Errorf("SecretKeyPath = %q, want %q", got, want)
	}
	if got, want := SecretMountPath("vllm"), "/var/run/breakwater/secrets/vllm"; got != want {
		t.Errorf("SecretMountPath = %q, want %q", got, want)
	}
}

// TestAgreesWithSidecar pins the paths and names the webhook's sidecar builder uses to the ones
// rendered into the config, so that the guard finds its API keys and its ConfigMap.
func TestAgreesWithSidecar(t *testing.T) {
	if got, want := SecretKeyPath("vllm", "token"), sidecar.SecretFile("vllm", "token"); got != want {
		t.Errorf("SecretKeyPath = %q, sidecar mounts %q", got, want)
	}
	if got, want := ConfigMapName("assistant"), sidecar.ConfigMapName("assistant"); got != want {
		t.Errorf("ConfigMapName = %q, sidecar reads %q", got, want)
	}
}

// A quota is enforced at the request shared when the manager has a store, and only when chosen
// otherwise: local on an even share, never by default.
func TestQuotaEnforcement(t *testing.T) {
	tpm := int64(1000)
	for _, tc := range []struct {
		spec      bw.Enforcement
		mode      bw.Mode
		haveStore bool
		want      bw.Enforcement
	}{
		{"", bw.ModeEnforce, true, bw.EnforcementShared},
		{"", bw.ModeEnforce, false, bw.EnforcementOff},
		{bw.EnforcementShared, bw.ModeEnforce, false, bw.EnforcementLocal},
		{bw.EnforcementLocal, bw.ModeEnforce, true, bw.EnforcementLocal},
		{bw.EnforcementOff, bw.ModeEnforce, true, bw.EnforcementOff},
		{"", bw.ModeShadow, true, bw.EnforcementOff},
	} {
		q := &bw.TokenQuota{Spec: bw.TokenQuotaSpec{Mode: tc.mode,
			Limits: bw.QuotaLimits{TokensPerMinute: &tpm}, Admission: bw.QuotaAdmission{Enforcement: tc.spec}}}
		if got := QuotaEnforcement(q, tc.haveStore); got != tc.want {
			t.Errorf("enforcement %q, mode %s, store %v: %s, want %s", tc.spec, tc.mode, tc.haveStore, got, tc.want)
		}
	}
}

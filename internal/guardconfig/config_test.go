package guardconfig

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseRoundTrip(t *testing.T) {
	data, err := os.ReadFile("testdata/full.json")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse of the marshalled document: %v\n%s", err, out)
	}
	if diff := cmp.Diff(c, again); diff != "" {
		t.Errorf("round trip changed the config (-first +second):\n%s", diff)
	}
	// Spot checks of parsing and defaulting.
	if got := c.Endpoints[0].Timeouts.FirstToken.D(); got != 10*time.Second {
		t.Errorf("firstToken = %s, want 10s", got)
	}
	if got := c.Endpoints[1].Retry.MaxAttempts; got != DefaultMaxAttempts {
		t.Errorf("defaulted maxAttempts = %d, want %d", got, DefaultMaxAttempts)
	}
	if got := c.RetrievalBackends[1].Timeout.D(); got != DefaultRetrievalTimeout {
		t.Errorf("defaulted retrieval timeout = %s", got)
	}
	if got, want := c.Endpoints[0].Targets[0].Prices.OutputPer1K.PerToken(), 0.000015; got != want {
		t.Errorf("PerToken = %g, want %g", got, want)
	}
}

func TestDefaultIsIdempotent(t *testing.T) {
	c := minimal()
	c.Default()
	first := *c
	first.Endpoints = append([]Endpoint(nil), c.Endpoints...)
	c.Default()
	if diff := cmp.Diff(&first, c); diff != "" {
		t.Errorf("second Default changed the config:\n%s", diff)
	}
}

func minimal() *Config {
	return &Config{
		APIVersion: APIVersion,
		Workload:   Workload{Namespace: "ns", Name: "app"},
		Endpoints: []Endpoint{{
			Name: "chat", Provider: OpenAI,
			Targets: []Target{{Name: "a", Weight: 100, URL: "http://127.0.0.1:1/v1"}},
		}},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *Config)
		want   []string // every line of the joined error, in order
	}{
		{name: "valid", modify: func(*Config) {}},
		{
			name: "workload",
			modify: func(c *Config) {
				c.Workload = Workload{Criticality: "vip"}
			},
			want: []string{
				"workload.namespace: required",
				"workload.name: required",
				`workload.criticality: must be critical, standard or sheddable, got "vip"`,
			},
		},
		{
			name: "bedrock target without region and model",
			modify: func(c *Config) {
				c.Endpoints[0].Provider = Bedrock
				c.Endpoints[0].Targets[0].URL = ""
				c.Endpoints[0].Targets[0].APIKeyFile = "/key"
			},
			want: []string{
				"endpoints[0].targets[0].region: required for provider bedrock",
				"endpoints[0].targets[0].modelId: required for provider bedrock",
				"endpoints[0].targets[0].apiKeyFile: only for provider openai (AWS targets use the pod's AWS credentials)",
			},
		},
		{
			name: "sagemaker target without endpoint name",
			modify: func(c *Config) {
				c.Endpoints[0].Provider = SageMaker
				c.Endpoints[0].Targets[0].Region = "eu-west-1"
			},
			want: []string{"endpoints[0].targets[0].endpointName: required for provider sagemaker"},
		},
		{
			name: "names, weights and urls",
			modify: func(c *Config) {
				c.Endpoints = append(c.Endpoints, Endpoint{
					Name: "chat", Provider: "gemini",
					Targets: []Target{
						{Name: "A_b", Weight: 0, URL: "ftp://x"},
						{Name: "A_b", Weight: 101, URL: "http://x/v1?q=1"},
					},
				})
			},
			want: []string{
				`endpoints[1].name: duplicate endpoint name "chat"`,
				`endpoints[1].provider: must be bedrock, sagemaker or openai, got "gemini"`,
				`endpoints[1].targets[0].name: must be a DNS label (lower-case letters, digits and '-', at most 63), got "A_b"`,
				"endpoints[1].targets[0].url: must be an absolute http or https URL",
				`endpoints[1].targets[1].name: must be a DNS label (lower-case letters, digits and '-', at most 63), got "A_b"`,
				`endpoints[1].targets[1].name: duplicate target name "A_b"`,
				"endpoints[1].targets[1].weight: must be between 0 and 100, got 101",
				"endpoints[1].targets[1].url: must not have a query or fragment",
			},
		},
		{
			name: "no weighted target",
			modify: func(c *Config) {
				c.Endpoints[0].Targets[0].Weight = 0
			},
			want: []string{"endpoints[0].targets: at least one target needs a weight above 0"},
		},
		{
			name: "money and policies",
			modify: func(c *Config) {
				e := &c.Endpoints[0]
				e.Targets[0].Prices = Prices{InputPer1K: "1e-3", OutputPer1K: "-1"}
				e.Retry.MaxAttempts = 11
				e.Retry.BackoffBase = Duration(time.Minute)
				ratio := 1.5
				e.Retry.BudgetRatio = &ratio
				e.Breaker.FailureRatio = 2
				e.Breaker.HalfOpenProbes = -1
				e.Limits.MaxPromptTokens = -1
			},
			want: []string{
				`endpoints[0].targets[0].prices.inputPer1k: must be a non-negative decimal string such as "0.003", got "1e-3"`,
				`endpoints[0].targets[0].prices.outputPer1k: must be a non-negative decimal string such as "0.003", got "-1"`,
				"endpoints[0].limits.maxPromptTokens: must not be negative",
				"endpoints[0].retry.maxAttempts: must be between 1 and 10, got 11",
				"endpoints[0].retry.backoffBase: must not exceed backoffMax (2s)",
				"endpoints[0].retry.budgetRatio: must be between 0 and 1, got 1.5",
				"endpoints[0].breaker.failureRatio: must be above 0 and at most 1, got 2",
				"endpoints[0].breaker.halfOpenProbes: must be at least 1",
			},
		},
		{
			name: "retrieval and quota",
			modify: func(c *Config) {
				c.RetrievalBackends = []RetrievalBackend{
					{Name: "kb", Type: HTTPSearch, MaxDocuments: 5, OnFailure: "retry", ResultsField: "a..b"},
					{Name: "os", Type: OpenSearch, URL: "http://os:9200", CapField: "size"},
					{Name: "x", Type: "qdrant", URL: "http://q"},
				}
				c.Quota = Quota{State: "Panic", TokensPerMinute: -5}
			},
			want: []string{
				"retrievalBackends[0].capField: required for type http when maxDocuments is set",
				"retrievalBackends[0].url: required",
				`retrievalBackends[0].resultsField: must be a dotted path of field names, got "a..b"`,
				"retrievalBackends[0].onFailure: must be degrade, cache or fail, got \"retry\"",
				"retrievalBackends[1].capField: not used by type opensearch (it caps size and kNN k, and trims hits.hits)",
				`retrievalBackends[2].type: must be opensearch or http, got "qdrant"`,
				`quota.state: must be Normal, Warning, Shedding or Exhausted, got "Panic"`,
				"quota.tokensPerMinute: must not be negative",
			},
		},
		{
			name: "admission",
			modify: func(c *Config) {
				c.Admission = Admission{
					Store: &AdmissionStore{Addresses: []string{"redis:6379", "redis"}, CAFile: "/ca.pem"},
					Quotas: []AdmissionQuota{
						{Namespace: "ns", Name: "tpm", Endpoints: []string{"chat", "embed"}, TokensPerMinute: 1000, ShedPercent: 95, HardPercent: 90},
						{Namespace: "ns", Name: "tpm", Endpoints: []string{"chat"}, Enforcement: "global"},
					},
				}
			},
			want: []string{
				`admission.store.addresses[1]: must be host:port, got "redis"`,
				"admission.store.tls: must be true when caFile or serverName is set",
				`admission.quotas[0].endpoints[1]: no endpoint "embed" in this config`,
				"admission.quotas[0]: want 1 <= shedPercent <= hardPercent <= 100, got 95 and 90",
				"admission.quotas[1]: duplicate quota ns/tpm",
				`admission.quotas[1].enforcement: must be shared or local, got "global"`,
				"admission.quotas[1]: at least one of tokensPerMinute and requestsPerMinute is required",
			},
		},
		{
			name: "shared admission without a store",
			modify: func(c *Config) {
				c.Admission.Quotas = []AdmissionQuota{{Namespace: "ns", Name: "rpm", Endpoints: []string{"chat"}, Enforcement: EnforcementShared, RequestsPerMinute: 10}}
			},
			want: []string{"admission.quotas[0].enforcement: shared needs admission.store"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := minimal()
			tt.modify(c)
			c.Default()
			err := c.Validate()
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"wrong version", `{"apiVersion":"v0","workload":{"namespace":"a","name":"b"}}`, `apiVersion: must be "guard.breakwater.dev/v1alpha1", got "v0"`},
		{"unknown field", `{"apiVersion":"guard.breakwater.dev/v1alpha1","workloads":{}}`, `decode guard config: json: unknown field "workloads"`},
		{"numeric duration", `{"apiVersion":"guard.breakwater.dev/v1alpha1","endpoints":[{"timeouts":{"request":30}}]}`, `decode guard config: duration must be a string such as "30s"`},
		{"bad duration", `{"apiVersion":"guard.breakwater.dev/v1alpha1","endpoints":[{"timeouts":{"request":"soon"}}]}`, `decode guard config: invalid duration "soon"`},
		{"trailing data", `{"apiVersion":"guard.breakwater.dev/v1alpha1"} {}`, "decode guard config: unexpected data after the document"},
		{"not json", `apiVersion: x`, "decode guard config: invalid character 'a' looking for beginning of value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("testdata/full.json"); err == nil {
		f.Add(data)
	}
	f.Add([]byte(`{"apiVersion":"guard.breakwater.dev/v1alpha1","workload":{"namespace":"a","name":"b"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		// Whatever parses must survive a round trip unchanged.
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		// An empty list and an absent one mean the same; omitempty writes neither.
		if diff := cmp.Diff(c, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip:\n%s", diff)
		}
	})
}

package crd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// mutation changes one field of a sample: value is JSON, "DEL" (remove the field) or the name of a
// generated value in generated.
type mutation struct{ path, value string }

// generated values too long to write inline.
var generated = map[string]func() any{
	"TARGETS17": func() any {
		var ts []any
		for i := range 17 {
			ts = append(ts, map[string]any{"name": fmt.Sprintf("t%d", i), "region": "us-east-1", "modelId": "m"})
		}
		return ts
	},
	"LONG2049":    func() any { return strings.Repeat("m", 2049) },
	"LONGURL":     func() any { return "https://example.com/" + strings.Repeat("p", 2030) },
	"ENDPOINTS65": func() any { return refs(65) },
	"ENDPOINTS33": func() any { return refs(33) },
	"NAMES17": func() any {
		var ns []any
		for i := range 17 {
			ns = append(ns, fmt.Sprintf("t%d", i))
		}
		return ns
	},
}

func refs(n int) []any {
	var rs []any
	for i := range n {
		rs = append(rs, map[string]any{"name": fmt.Sprintf("e%d", i)})
	}
	return rs
}

// TestInvalidObjectsAreRefused changes one thing in a valid sample per case and asserts the exact
// message the API server answers (what `kubectl apply` prints), covering every CEL rule and every
// bound of the five kinds. Set BREAKWATER_PRINT_MESSAGES=1 to print the messages instead of failing
// on a difference, when adding cases.
func TestInvalidObjectsAreRefused(t *testing.T) {
	_, objs := samples(t)
	ensureNamespace(t, "invalid")
	printOnly := os.Getenv("BREAKWATER_PRINT_MESSAGES") == "1"
	for _, tc := range invalidCases {
		t.Run(tc.sample+"/"+tc.name, func(t *testing.T) {
			base, ok := objs["breakwater_v1alpha1_"+tc.sample]
			if !ok {
				t.Fatalf("no sample %q", tc.sample)
			}
			obj := base.DeepCopy()
			obj.SetNamespace("invalid")
			obj.SetName("invalid")
			for _, m := range tc.set {
				var v any
				switch gen, isGen := generated[m.value]; {
				case m.value == "DEL":
					v = del{}
				case isGen:
					v = gen()
				default:
					if err := json.Unmarshal([]byte(m.value), &v); err != nil {
						t.Fatalf("value of %s: %v", m.path, err)
					}
				}
				set(t, obj.Object, m.path, v)
			}
			err := env.Client.Create(context.Background(), obj, client.DryRunAll)
			if printOnly {
				fmt.Printf("CASE\t%s\t%s\t%v\n", tc.sample, tc.name, err)
				return
			}
			if err == nil {
				t.Fatalf("the API server accepted the object; want %q", tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("message:\n got: %s\nwant: %s", err.Error(), tc.want)
			}
		})
	}
}

type invalidCase struct {
	sample, name string
	set          []mutation
	want         string
}

var invalidCases = []invalidCase{
	{sample: "modelendpoint", name: "provider not in the enum", set: []mutation{{"spec.provider", `"azure"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: [spec.provider: Unsupported value: "azure": supported values: "bedrock", "sagemaker", "openai", <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "modelendpoint", name: "no targets", set: []mutation{{"spec.targets", `[]`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: [spec.targets: Invalid value: 0: spec.targets in body should have at least 1 items, spec: Invalid value: at least one target needs a weight above 0]`},
	{sample: "modelendpoint", name: "more than 16 targets", set: []mutation{{"spec.targets", `TARGETS17`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: [spec.targets: Too many: 17: must have at most 16 items, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "modelendpoint", name: "duplicate target names", set: []mutation{{"spec.targets.1.name", `"us-east-1"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.targets[1]: Duplicate value: {"name":"us-east-1"}`},
	{sample: "modelendpoint", name: "target name not a DNS label", set: []mutation{{"spec.targets.0.name", `"US_East"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.targets[0].name: Invalid value: "US_East": spec.targets[0].name in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'`},
	{sample: "modelendpoint", name: "target name longer than 63", set: []mutation{{"spec.targets.0.name", `"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: [spec.targets[0].name: Too long: may not be more than 63 bytes, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "modelendpoint", name: "weight above 100", set: []mutation{{"spec.targets.0.weight", `101`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.targets[0].weight: Invalid value: 101: spec.targets[0].weight in body should be less than or equal to 100`},
	{sample: "modelendpoint", name: "weight below 0", set: []mutation{{"spec.targets.0.weight", `-1`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: [spec.targets[0].weight: Invalid value: -1: spec.targets[0].weight in body should be greater than or equal to 0, spec: Invalid value: at least one target needs a weight above 0]`},
	{sample: "modelendpoint", name: "every weight 0", set: []mutation{{"spec.targets.0.weight", `0`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec: Invalid value: at least one target needs a weight above 0`},
	{sample: "modelendpoint", name: "bedrock target without region", set: []mutation{{"spec.targets.0.region", `DEL`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec: Invalid value: every target of a bedrock endpoint needs region and modelId`},
	{sample: "modelendpoint", name: "bedrock target without modelId", set: []mutation{{"spec.targets.1.modelId", `DEL`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec: Invalid value: every target of a bedrock endpoint needs region and modelId`},
	{sample: "modelendpoint", name: "region not an AWS region", set: []mutation{{"spec.targets.0.region", `"useast1"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.targets[0].region: Invalid value: "useast1": spec.targets[0].region in body should match '^[a-z]{2}(-[a-z]+)+-[0-9]+$'`},
	{sample: "modelendpoint", name: "region longer than 32", set: []mutation{{"spec.targets.0.region", `"us-eastttttttttttttttttttttttttt-1"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: [spec.targets[0].region: Too long: may not be more than 32 bytes, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "modelendpoint", name: "empty modelId", set: []mutation{{"spec.targets.0.modelId", `""`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.targets[0].modelId: Invalid value: "": spec.targets[0].modelId in body should be at least 1 chars long`},
	{sample: "modelendpoint", name: "modelId longer than 2048", set: []mutation{{"spec.targets.0.modelId", `LONG2049`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: [spec.targets[0].modelId: Too long: may not be more than 2048 bytes, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "modelendpoint", name: "bedrock target with url", set: []mutation{{"spec.targets.0.url", `"https://example.com"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec: Invalid value: url and apiKeySecretRef are for openai targets; AWS targets use region and the pod's AWS identity (set endpointURL to override the AWS endpoint)`},
	{sample: "modelendpoint", name: "bedrock target with apiKeySecretRef", set: []mutation{{"spec.targets.0.apiKeySecretRef", `{"name":"key"}`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec: Invalid value: url and apiKeySecretRef are for openai targets; AWS targets use region and the pod's AWS identity (set endpointURL to override the AWS endpoint)`},
	{sample: "modelendpoint", name: "bedrock target with endpointName", set: []mutation{{"spec.targets.0.endpointName", `"my-endpoint"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec: Invalid value: endpointName is only for sagemaker targets`},
	{sample: "modelendpoint", name: "sagemaker target without endpointName", set: []mutation{{"spec.provider", `"sagemaker"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec: Invalid value: every target of a sagemaker endpoint needs region and endpointName`},
	{sample: "modelendpoint", name: "endpointName not a SageMaker name", set: []mutation{{"spec.provider", `"sagemaker"`}, {"spec.targets.0.endpointName", `"-bad"`}, {"spec.targets.1.endpointName", `"ok"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.targets[0].endpointName: Invalid value: "-bad": spec.targets[0].endpointName in body should match '^[a-zA-Z0-9](-*[a-zA-Z0-9])*$'`},
	{sample: "modelendpoint", name: "endpointName longer than 63", set: []mutation{{"spec.provider", `"sagemaker"`}, {"spec.targets.0.endpointName", `"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"`}, {"spec.targets.1.endpointName", `"ok"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: [spec.targets[0].endpointName: Too long: may not be more than 63 bytes, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "modelendpoint", name: "endpointURL not a URL", set: []mutation{{"spec.targets.0.endpointURL", `"bedrock.local"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.targets[0].endpointURL: Invalid value: "bedrock.local": endpointURL must be an absolute http or https URL`},
	{sample: "modelendpoint", name: "price not a decimal", set: []mutation{{"spec.targets.0.price.inputPer1kTokens", `"1e-3"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.targets[0].price.inputPer1kTokens: Invalid value: "1e-3": must be a decimal amount of US dollars such as "0.003": digits, an optional point and at most 9 decimals, no sign or exponent`},
	{sample: "modelendpoint", name: "negative price", set: []mutation{{"spec.targets.0.price.outputPer1kTokens", `"-0.004"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.targets[0].price.outputPer1kTokens: Invalid value: "-0.004": must be a decimal amount of US dollars such as "0.003": digits, an optional point and at most 9 decimals, no sign or exponent`},
	{sample: "modelendpoint", name: "price with more than 9 decimals", set: []mutation{{"spec.targets.0.price.outputPer1kTokens", `"0.0000000001"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.targets[0].price.outputPer1kTokens: Invalid value: "0.0000000001": must be a decimal amount of US dollars such as "0.003": digits, an optional point and at most 9 decimals, no sign or exponent`},
	{sample: "modelendpoint", name: "price longer than 19 characters", set: []mutation{{"spec.targets.0.price.outputPer1kTokens", `"1234567890.123456789"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: [spec.targets[0].price.outputPer1kTokens: Too long: may not be more than 19 bytes, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "modelendpoint", name: "price without outputPer1kTokens", set: []mutation{{"spec.targets.0.price.outputPer1kTokens", `DEL`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: [spec.targets[0].price.outputPer1kTokens: Required value, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "modelendpoint", name: "maxRequestBytes below 1 KiB", set: []mutation{{"spec.limits.maxRequestBytes", `100`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.limits.maxRequestBytes: Invalid value: 100: spec.limits.maxRequestBytes in body should be greater than or equal to 1024`},
	{sample: "modelendpoint", name: "maxRequestBytes above 100 MiB", set: []mutation{{"spec.limits.maxRequestBytes", `104857601`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.limits.maxRequestBytes: Invalid value: 104857601: spec.limits.maxRequestBytes in body should be less than or equal to 104857600`},
	{sample: "modelendpoint", name: "maxPromptTokens 0", set: []mutation{{"spec.limits.maxPromptTokens", `0`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.limits.maxPromptTokens: Invalid value: 0: spec.limits.maxPromptTokens in body should be greater than or equal to 1`},
	{sample: "modelendpoint", name: "maxPromptTokens above 10M", set: []mutation{{"spec.limits.maxPromptTokens", `10000001`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.limits.maxPromptTokens: Invalid value: 10000001: spec.limits.maxPromptTokens in body should be less than or equal to 10000000`},
	{sample: "modelendpoint", name: "maxOutputTokens 0", set: []mutation{{"spec.limits.maxOutputTokens", `0`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.limits.maxOutputTokens: Invalid value: 0: spec.limits.maxOutputTokens in body should be greater than or equal to 1`},
	{sample: "modelendpoint", name: "maxOutputTokens above 1M", set: []mutation{{"spec.limits.maxOutputTokens", `1000001`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.limits.maxOutputTokens: Invalid value: 1000001: spec.limits.maxOutputTokens in body should be less than or equal to 1000000`},
	{sample: "modelendpoint", name: "request timeout 0s", set: []mutation{{"spec.timeouts.request", `"0s"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.timeouts.request: Invalid value: "0s": request must be a positive duration such as 300s`},
	{sample: "modelendpoint", name: "request timeout negative", set: []mutation{{"spec.timeouts.request", `"-5s"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.timeouts.request: Invalid value: "-5s": request must be a positive duration such as 300s`},
	{sample: "modelendpoint", name: "request timeout not a duration", set: []mutation{{"spec.timeouts.request", `"soon"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.timeouts.request: Invalid value: "soon": request must be a positive duration such as 300s`},
	{sample: "modelendpoint", name: "firstToken timeout 0s", set: []mutation{{"spec.timeouts.firstToken", `"0s"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.timeouts.firstToken: Invalid value: "0s": firstToken must be a positive duration such as 10s`},
	{sample: "modelendpoint", name: "firstToken longer than request", set: []mutation{{"spec.timeouts.firstToken", `"200s"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.timeouts: Invalid value: firstToken must not be longer than request`},
	{sample: "modelendpoint", name: "streamIdle 0s", set: []mutation{{"spec.timeouts.streamIdle", `"0s"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.timeouts.streamIdle: Invalid value: "0s": streamIdle must be a positive duration such as 60s`},
	{sample: "modelendpoint", name: "streamIdle longer than request", set: []mutation{{"spec.timeouts.streamIdle", `"121s"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.timeouts: Invalid value: streamIdle must not be longer than request`},
	{sample: "modelendpoint", name: "maxAttempts 0", set: []mutation{{"spec.retry.maxAttempts", `0`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.retry.maxAttempts: Invalid value: 0: spec.retry.maxAttempts in body should be greater than or equal to 1`},
	{sample: "modelendpoint", name: "maxAttempts above 10", set: []mutation{{"spec.retry.maxAttempts", `11`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.retry.maxAttempts: Invalid value: 11: spec.retry.maxAttempts in body should be less than or equal to 10`},
	{sample: "modelendpoint", name: "backoffBase 0s", set: []mutation{{"spec.retry.backoffBase", `"0s"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.retry.backoffBase: Invalid value: "0s": backoffBase must be a positive duration such as 200ms`},
	{sample: "modelendpoint", name: "backoffMax 0s", set: []mutation{{"spec.retry.backoffMax", `"0s"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.retry.backoffMax: Invalid value: "0s": backoffMax must be a positive duration such as 5s`},
	{sample: "modelendpoint", name: "backoffBase longer than backoffMax", set: []mutation{{"spec.retry.backoffBase", `"10s"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.retry: Invalid value: backoffBase must not be longer than backoffMax`},
	{sample: "modelendpoint", name: "budgetPercent above 100", set: []mutation{{"spec.retry.budgetPercent", `101`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.retry.budgetPercent: Invalid value: 101: spec.retry.budgetPercent in body should be less than or equal to 100`},
	{sample: "modelendpoint", name: "budgetPercent negative", set: []mutation{{"spec.retry.budgetPercent", `-1`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.retry.budgetPercent: Invalid value: -1: spec.retry.budgetPercent in body should be greater than or equal to 0`},
	{sample: "modelendpoint", name: "minRetriesPerWindow negative", set: []mutation{{"spec.retry.minRetriesPerWindow", `-1`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.retry.minRetriesPerWindow: Invalid value: -1: spec.retry.minRetriesPerWindow in body should be greater than or equal to 0`},
	{sample: "modelendpoint", name: "minRetriesPerWindow above 1000", set: []mutation{{"spec.retry.minRetriesPerWindow", `1001`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.retry.minRetriesPerWindow: Invalid value: 1001: spec.retry.minRetriesPerWindow in body should be less than or equal to 1000`},
	{sample: "modelendpoint", name: "maxRetryAfter 0s", set: []mutation{{"spec.retry.maxRetryAfter", `"0s"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.retry.maxRetryAfter: Invalid value: "0s": maxRetryAfter must be a positive duration such as 10s`},
	{sample: "modelendpoint", name: "failureRatePercent 0", set: []mutation{{"spec.circuitBreaker.failureRatePercent", `0`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.circuitBreaker.failureRatePercent: Invalid value: 0: spec.circuitBreaker.failureRatePercent in body should be greater than or equal to 1`},
	{sample: "modelendpoint", name: "failureRatePercent above 100", set: []mutation{{"spec.circuitBreaker.failureRatePercent", `101`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.circuitBreaker.failureRatePercent: Invalid value: 101: spec.circuitBreaker.failureRatePercent in body should be less than or equal to 100`},
	{sample: "modelendpoint", name: "breaker minRequests 0", set: []mutation{{"spec.circuitBreaker.minRequests", `0`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.circuitBreaker.minRequests: Invalid value: 0: spec.circuitBreaker.minRequests in body should be greater than or equal to 1`},
	{sample: "modelendpoint", name: "breaker minRequests above 100000", set: []mutation{{"spec.circuitBreaker.minRequests", `100001`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.circuitBreaker.minRequests: Invalid value: 100001: spec.circuitBreaker.minRequests in body should be less than or equal to 100000`},
	{sample: "modelendpoint", name: "breaker window 0s", set: []mutation{{"spec.circuitBreaker.window", `"0s"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.circuitBreaker.window: Invalid value: "0s": window must be a positive duration such as 30s`},
	{sample: "modelendpoint", name: "consecutiveFailures negative", set: []mutation{{"spec.circuitBreaker.consecutiveFailures", `-1`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.circuitBreaker.consecutiveFailures: Invalid value: -1: spec.circuitBreaker.consecutiveFailures in body should be greater than or equal to 0`},
	{sample: "modelendpoint", name: "consecutiveFailures above 1000", set: []mutation{{"spec.circuitBreaker.consecutiveFailures", `1001`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.circuitBreaker.consecutiveFailures: Invalid value: 1001: spec.circuitBreaker.consecutiveFailures in body should be less than or equal to 1000`},
	{sample: "modelendpoint", name: "openDuration 0s", set: []mutation{{"spec.circuitBreaker.openDuration", `"0s"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.circuitBreaker.openDuration: Invalid value: "0s": openDuration must be a positive duration such as 30s`},
	{sample: "modelendpoint", name: "halfOpenProbes 0", set: []mutation{{"spec.circuitBreaker.halfOpenProbes", `0`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.circuitBreaker.halfOpenProbes: Invalid value: 0: spec.circuitBreaker.halfOpenProbes in body should be greater than or equal to 1`},
	{sample: "modelendpoint", name: "halfOpenProbes above 100", set: []mutation{{"spec.circuitBreaker.halfOpenProbes", `101`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.circuitBreaker.halfOpenProbes: Invalid value: 101: spec.circuitBreaker.halfOpenProbes in body should be less than or equal to 100`},
	{sample: "modelendpoint_openai", name: "openai target without url", set: []mutation{{"spec.targets.0.url", `DEL`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec: Invalid value: every target of an openai endpoint needs url`},
	{sample: "modelendpoint_openai", name: "url not a URL", set: []mutation{{"spec.targets.0.url", `"vllm:8000"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.targets[0].url: Invalid value: "vllm:8000": url must be an absolute http or https URL such as https://vllm.models.svc:8000`},
	{sample: "modelendpoint_openai", name: "url with ftp scheme", set: []mutation{{"spec.targets.0.url", `"ftp://vllm.local/"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.targets[0].url: Invalid value: "ftp://vllm.local/": url must be an absolute http or https URL such as https://vllm.models.svc:8000`},
	{sample: "modelendpoint_openai", name: "url longer than 2048", set: []mutation{{"spec.targets.0.url", `LONGURL`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: [spec.targets[0].url: Too long: may not be more than 2048 bytes, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "modelendpoint_openai", name: "apiKeySecretRef without name", set: []mutation{{"spec.targets.0.apiKeySecretRef", `{"key":"token"}`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: [spec.targets[0].apiKeySecretRef.name: Required value, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "modelendpoint_openai", name: "apiKeySecretRef name not a DNS name", set: []mutation{{"spec.targets.0.apiKeySecretRef.name", `"Vllm_Key"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.targets[0].apiKeySecretRef.name: Invalid value: "Vllm_Key": spec.targets[0].apiKeySecretRef.name in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'`},
	{sample: "modelendpoint_openai", name: "apiKeySecretRef key with a slash", set: []mutation{{"spec.targets.0.apiKeySecretRef.key", `"a/b"`}},
		want: `ModelEndpoint.breakwater.dev "invalid" is invalid: spec.targets[0].apiKeySecretRef.key: Invalid value: "a/b": spec.targets[0].apiKeySecretRef.key in body should match '^[-._a-zA-Z0-9]+$'`},
	{sample: "retrievalbackend", name: "type not in the enum", set: []mutation{{"spec.type", `"qdrant"`}},
		want: `RetrievalBackend.breakwater.dev "invalid" is invalid: [spec.type: Unsupported value: "qdrant": supported values: "opensearch", "http", <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "retrievalbackend", name: "no url", set: []mutation{{"spec.url", `DEL`}},
		want: `RetrievalBackend.breakwater.dev "invalid" is invalid: [spec.url: Required value, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "retrievalbackend", name: "url not a URL", set: []mutation{{"spec.url", `"opensearch:9200"`}},
		want: `RetrievalBackend.breakwater.dev "invalid" is invalid: spec.url: Invalid value: "opensearch:9200": url must be an absolute http or https URL such as https://search.vectors.svc:9200`},
	{sample: "retrievalbackend", name: "maxDocuments 0", set: []mutation{{"spec.maxDocuments", `0`}},
		want: `RetrievalBackend.breakwater.dev "invalid" is invalid: spec.maxDocuments: Invalid value: 0: spec.maxDocuments in body should be greater than or equal to 1`},
	{sample: "retrievalbackend", name: "maxDocuments above 10000", set: []mutation{{"spec.maxDocuments", `10001`}},
		want: `RetrievalBackend.breakwater.dev "invalid" is invalid: spec.maxDocuments: Invalid value: 10001: spec.maxDocuments in body should be less than or equal to 10000`},
	{sample: "retrievalbackend", name: "maxResponseBytes below 1 KiB", set: []mutation{{"spec.maxResponseBytes", `10`}},
		want: `RetrievalBackend.breakwater.dev "invalid" is invalid: spec.maxResponseBytes: Invalid value: 10: spec.maxResponseBytes in body should be greater than or equal to 1024`},
	{sample: "retrievalbackend", name: "maxResponseBytes above 256 MiB", set: []mutation{{"spec.maxResponseBytes", `268435457`}},
		want: `RetrievalBackend.breakwater.dev "invalid" is invalid: spec.maxResponseBytes: Invalid value: 268435457: spec.maxResponseBytes in body should be less than or equal to 268435456`},
	{sample: "retrievalbackend", name: "timeout 0s", set: []mutation{{"spec.timeout", `"0s"`}},
		want: `RetrievalBackend.breakwater.dev "invalid" is invalid: spec.timeout: Invalid value: "0s": timeout must be a positive duration such as 2s`},
	{sample: "retrievalbackend", name: "http backend without countField", set: []mutation{{"spec.type", `"http"`}, {"spec.documentsField", `"results"`}},
		want: `RetrievalBackend.breakwater.dev "invalid" is invalid: spec: Invalid value: an http backend needs countField (the request field that sets how many documents to return, e.g. top_k) and documentsField (the answer's array of documents, e.g. results)`},
	{sample: "retrievalbackend", name: "http backend without documentsField", set: []mutation{{"spec.type", `"http"`}, {"spec.countField", `"top_k"`}},
		want: `RetrievalBackend.breakwater.dev "invalid" is invalid: spec: Invalid value: an http backend needs countField (the request field that sets how many documents to return, e.g. top_k) and documentsField (the answer's array of documents, e.g. results)`},
	{sample: "retrievalbackend", name: "countField not a field path", set: []mutation{{"spec.type", `"http"`}, {"spec.countField", `"top k"`}, {"spec.documentsField", `"results"`}},
		want: `RetrievalBackend.breakwater.dev "invalid" is invalid: spec.countField: Invalid value: "top k": spec.countField in body should match '^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$'`},
	{sample: "retrievalbackend", name: "documentsField not a field path", set: []mutation{{"spec.type", `"http"`}, {"spec.countField", `"top_k"`}, {"spec.documentsField", `"results."`}},
		want: `RetrievalBackend.breakwater.dev "invalid" is invalid: spec.documentsField: Invalid value: "results.": spec.documentsField in body should match '^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$'`},
	{sample: "retrievalbackend", name: "onFailure mode not in the enum", set: []mutation{{"spec.onFailure.mode", `"retry"`}},
		want: `RetrievalBackend.breakwater.dev "invalid" is invalid: [spec.onFailure.mode: Unsupported value: "retry": supported values: "degrade", "cache", "fail", <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "retrievalbackend", name: "cache mode without cacheTTL", set: []mutation{{"spec.onFailure.mode", `"cache"`}},
		want: `RetrievalBackend.breakwater.dev "invalid" is invalid: spec: Invalid value: onFailure.mode cache needs onFailure.cacheTTL, the age after which a cached answer is no longer served`},
	{sample: "retrievalbackend", name: "cacheTTL 0s", set: []mutation{{"spec.onFailure.mode", `"cache"`}, {"spec.onFailure.cacheTTL", `"0s"`}},
		want: `RetrievalBackend.breakwater.dev "invalid" is invalid: spec.onFailure.cacheTTL: Invalid value: "0s": cacheTTL must be a positive duration such as 5m`},
	{sample: "retrievalbackend", name: "retry maxAttempts 0", set: []mutation{{"spec.retry.maxAttempts", `0`}},
		want: `RetrievalBackend.breakwater.dev "invalid" is invalid: spec.retry.maxAttempts: Invalid value: 0: spec.retry.maxAttempts in body should be greater than or equal to 1`},
	{sample: "retrievalbackend", name: "breaker halfOpenProbes 0", set: []mutation{{"spec.circuitBreaker.halfOpenProbes", `0`}},
		want: `RetrievalBackend.breakwater.dev "invalid" is invalid: spec.circuitBreaker.halfOpenProbes: Invalid value: 0: spec.circuitBreaker.halfOpenProbes in body should be greater than or equal to 1`},
	{sample: "tokenquota", name: "no endpoints", set: []mutation{{"spec.endpoints", `[]`}},
		want: `TokenQuota.breakwater.dev "invalid" is invalid: spec.endpoints: Invalid value: 0: spec.endpoints in body should have at least 1 items`},
	{sample: "tokenquota", name: "duplicate endpoints", set: []mutation{{"spec.endpoints", `[{"name":"a"},{"name":"a"}]`}},
		want: `TokenQuota.breakwater.dev "invalid" is invalid: spec.endpoints[1]: Duplicate value: {"name":"a"}`},
	{sample: "tokenquota", name: "more than 64 endpoints", set: []mutation{{"spec.endpoints", `ENDPOINTS65`}},
		want: `TokenQuota.breakwater.dev "invalid" is invalid: [spec.endpoints: Too many: 65: must have at most 64 items, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "tokenquota", name: "endpoint name not a DNS name", set: []mutation{{"spec.endpoints.0.name", `"Claude"`}},
		want: `TokenQuota.breakwater.dev "invalid" is invalid: spec.endpoints[0].name: Invalid value: "Claude": spec.endpoints[0].name in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'`},
	{sample: "tokenquota", name: "no limit at all", set: []mutation{{"spec.limits", `{}`}},
		want: `TokenQuota.breakwater.dev "invalid" is invalid: spec: Invalid value: set at least one limit: limits.tokensPerMinute, limits.requestsPerMinute, limits.tokensPerDay, limits.costPerDay or serviceQuota`},
	{sample: "tokenquota", name: "tokensPerMinute 0", set: []mutation{{"spec.limits.tokensPerMinute", `0`}},
		want: `TokenQuota.breakwater.dev "invalid" is invalid: spec.limits.tokensPerMinute: Invalid value: 0: spec.limits.tokensPerMinute in body should be greater than or equal to 1`},
	{sample: "tokenquota", name: "tokensPerMinute above 1e12", set: []mutation{{"spec.limits.tokensPerMinute", `1000000000001`}},
		want: `TokenQuota.breakwater.dev "invalid" is invalid: spec.limits.tokensPerMinute: Invalid value: 1000000000001: spec.limits.tokensPerMinute in body should be less than or equal to 1000000000000`},
	{sample: "tokenquota", name: "requestsPerMinute 0", set: []mutation{{"spec.limits.requestsPerMinute", `0`}},
		want: `TokenQuota.breakwater.dev "invalid" is invalid: spec.limits.requestsPerMinute: Invalid value: 0: spec.limits.requestsPerMinute in body should be greater than or equal to 1`},
	{sample: "tokenquota", name: "unknown enforcement", set: []mutation{{"spec.admission.enforcement", `"global"`}},
		want: `TokenQuota.breakwater.dev "invalid" is invalid: [spec.admission.enforcement: Unsupported value: "global": supported values: "shared", "local", "off", <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "tokenquota", name: "critical reserve above half", set: []mutation{{"spec.admission.criticalReservePercent", `60`}},
		want: `TokenQuota.breakwater.dev "invalid" is invalid: spec.admission.criticalReservePercent: Invalid value: 60: spec.admission.criticalReservePercent in body should be less than or equal to 50`},
	{sample: "tokenquota", name: "tokensPerDay 0", set: []mutation{{"spec.limits.tokensPerDay", `0`}},
		want: `TokenQuota.breakwater.dev "invalid" is invalid: spec.limits.tokensPerDay: Invalid value: 0: spec.limits.tokensPerDay in body should be greater than or equal to 1`},
	{sample: "tokenquota", name: "costPerDay not a decimal", set: []mutation{{"spec.limits.costPerDay", `"250 USD"`}},
		want: `TokenQuota.breakwater.dev "invalid" is invalid: spec.limits.costPerDay: Invalid value: "250 USD": must be a decimal amount of US dollars such as "0.003": digits, an optional point and at most 9 decimals, no sign or exponent`},
	{sample: "tokenquota", name: "serviceQuota and tokensPerMinute", set: []mutation{{"spec.serviceQuota", `{"serviceCode":"bedrock","quotaCode":"L-FF1DB5E1","region":"us-east-1"}`}},
		want: `TokenQuota.breakwater.dev "invalid" is invalid: spec: Invalid value: serviceQuota provides the tokens-per-minute limit; remove limits.tokensPerMinute or serviceQuota`},
	{sample: "tokenquota", name: "serviceQuota without quotaCode", set: []mutation{{"spec.limits", `{}`}, {"spec.serviceQuota", `{"serviceCode":"bedrock","region":"us-east-1"}`}},
		want: `TokenQuota.breakwater.dev "invalid" is invalid: [spec.serviceQuota.quotaCode: Required value, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "tokenquota", name: "serviceQuota without serviceCode", set: []mutation{{"spec.limits", `{}`}, {"spec.serviceQuota", `{"quotaCode":"L-FF1DB5E1","region":"us-east-1"}`}},
		want: `TokenQuota.breakwater.dev "invalid" is invalid: [spec.serviceQuota.serviceCode: Required value, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "tokenquota", name: "serviceQuota without region", set: []mutation{{"spec.limits", `{}`}, {"spec.serviceQuota", `{"serviceCode":"bedrock","quotaCode":"L-FF1DB5E1"}`}},
		want: `TokenQuota.breakwater.dev "invalid" is invalid: [spec.serviceQuota.region: Required value, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "tokenquota", name: "quotaCode not an L- code", set: []mutation{{"spec.limits", `{}`}, {"spec.serviceQuota", `{"serviceCode":"bedrock","quotaCode":"FF1DB5E1","region":"us-east-1"}`}},
		want: `TokenQuota.breakwater.dev "invalid" is invalid: spec.serviceQuota.quotaCode: Invalid value: "FF1DB5E1": spec.serviceQuota.quotaCode in body should match '^L-[A-Z0-9]+$'`},
	{sample: "tokenquota", name: "serviceCode with a space", set: []mutation{{"spec.limits", `{}`}, {"spec.serviceQuota", `{"serviceCode":"bed rock","quotaCode":"L-FF1DB5E1","region":"us-east-1"}`}},
		want: `TokenQuota.breakwater.dev "invalid" is invalid: spec.serviceQuota.serviceCode: Invalid value: "bed rock": spec.serviceQuota.serviceCode in body should match '^[a-zA-Z][a-zA-Z0-9-]*$'`},
	{sample: "tokenquota", name: "refreshInterval below 1m", set: []mutation{{"spec.limits", `{}`}, {"spec.serviceQuota", `{"serviceCode":"bedrock","quotaCode":"L-FF1DB5E1","region":"us-east-1","refreshInterval":"30s"}`}},
		want: `TokenQuota.breakwater.dev "invalid" is invalid: spec.serviceQuota.refreshInterval: Invalid value: "30s": refreshInterval must be at least 1m`},
	{sample: "tokenquota", name: "warn not below shed", set: []mutation{{"spec.thresholds.warnPercent", `90`}},
		want: `TokenQuota.breakwater.dev "invalid" is invalid: spec.thresholds: Invalid value: thresholds must be ordered warnPercent < shedPercent <= hardPercent`},
	{sample: "tokenquota", name: "shed above hard", set: []mutation{{"spec.thresholds.shedPercent", `95`}, {"spec.thresholds.hardPercent", `92`}},
		want: `TokenQuota.breakwater.dev "invalid" is invalid: spec.thresholds: Invalid value: thresholds must be ordered warnPercent < shedPercent <= hardPercent`},
	{sample: "tokenquota", name: "warnPercent 0", set: []mutation{{"spec.thresholds.warnPercent", `0`}},
		want: `TokenQuota.breakwater.dev "invalid" is invalid: spec.thresholds.warnPercent: Invalid value: 0: spec.thresholds.warnPercent in body should be greater than or equal to 1`},
	{sample: "tokenquota", name: "hardPercent above 100", set: []mutation{{"spec.thresholds.hardPercent", `101`}},
		want: `TokenQuota.breakwater.dev "invalid" is invalid: spec.thresholds.hardPercent: Invalid value: 101: spec.thresholds.hardPercent in body should be less than or equal to 100`},
	{sample: "tokenquota", name: "mode not in the enum", set: []mutation{{"spec.mode", `"dry-run"`}},
		want: `TokenQuota.breakwater.dev "invalid" is invalid: [spec.mode: Unsupported value: "dry-run": supported values: "enforce", "shadow", <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "failoverpolicy", name: "one target", set: []mutation{{"spec.targets", `["us-east-1"]`}},
		want: `FailoverPolicy.breakwater.dev "invalid" is invalid: spec.targets: Invalid value: 1: spec.targets in body should have at least 2 items`},
	{sample: "failoverpolicy", name: "duplicate targets", set: []mutation{{"spec.targets", `["us-east-1","us-east-1"]`}},
		want: `FailoverPolicy.breakwater.dev "invalid" is invalid: spec.targets: Invalid value: targets must name each target once`},
	{sample: "failoverpolicy", name: "more than 16 targets", set: []mutation{{"spec.targets", `NAMES17`}},
		want: `FailoverPolicy.breakwater.dev "invalid" is invalid: [spec.targets: Too many: 17: must have at most 16 items, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "failoverpolicy", name: "target not a DNS label", set: []mutation{{"spec.targets.1", `"US_West"`}},
		want: `FailoverPolicy.breakwater.dev "invalid" is invalid: spec.targets[1]: Invalid value: "US_West": spec.targets[1] in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'`},
	{sample: "failoverpolicy", name: "no endpointRef", set: []mutation{{"spec.endpointRef", `DEL`}},
		want: `FailoverPolicy.breakwater.dev "invalid" is invalid: [spec.endpointRef: Required value, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "failoverpolicy", name: "no triggers", set: []mutation{{"spec.triggers", `DEL`}},
		want: `FailoverPolicy.breakwater.dev "invalid" is invalid: [spec.triggers: Required value, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "failoverpolicy", name: "no trigger set", set: []mutation{{"spec.triggers", `{"window":"2m"}`}},
		want: `FailoverPolicy.breakwater.dev "invalid" is invalid: spec.triggers: Invalid value: set at least one trigger: errorRatePercent, throttleRatePercent, p99Latency or quotaPercent`},
	{sample: "failoverpolicy", name: "errorRatePercent 0", set: []mutation{{"spec.triggers.errorRatePercent", `0`}},
		want: `FailoverPolicy.breakwater.dev "invalid" is invalid: spec.triggers.errorRatePercent: Invalid value: 0: spec.triggers.errorRatePercent in body should be greater than or equal to 1`},
	{sample: "failoverpolicy", name: "throttleRatePercent above 100", set: []mutation{{"spec.triggers.throttleRatePercent", `101`}},
		want: `FailoverPolicy.breakwater.dev "invalid" is invalid: spec.triggers.throttleRatePercent: Invalid value: 101: spec.triggers.throttleRatePercent in body should be less than or equal to 100`},
	{sample: "failoverpolicy", name: "quotaPercent above 100", set: []mutation{{"spec.triggers.quotaPercent", `101`}},
		want: `FailoverPolicy.breakwater.dev "invalid" is invalid: spec.triggers.quotaPercent: Invalid value: 101: spec.triggers.quotaPercent in body should be less than or equal to 100`},
	{sample: "failoverpolicy", name: "p99Latency 0s", set: []mutation{{"spec.triggers.p99Latency", `"0s"`}},
		want: `FailoverPolicy.breakwater.dev "invalid" is invalid: spec.triggers.p99Latency: Invalid value: "0s": p99Latency must be a positive duration such as 8s`},
	{sample: "failoverpolicy", name: "window below 10s", set: []mutation{{"spec.triggers.window", `"5s"`}},
		want: `FailoverPolicy.breakwater.dev "invalid" is invalid: spec.triggers.window: Invalid value: "5s": window must be at least 10s, so a trigger sees more than one scrape`},
	{sample: "failoverpolicy", name: "trigger minRequests 0", set: []mutation{{"spec.triggers.minRequests", `0`}},
		want: `FailoverPolicy.breakwater.dev "invalid" is invalid: spec.triggers.minRequests: Invalid value: 0: spec.triggers.minRequests in body should be greater than or equal to 1`},
	{sample: "failoverpolicy", name: "shift stepPercent 0", set: []mutation{{"spec.shift.stepPercent", `0`}},
		want: `FailoverPolicy.breakwater.dev "invalid" is invalid: spec.shift.stepPercent: Invalid value: 0: spec.shift.stepPercent in body should be greater than or equal to 1`},
	{sample: "failoverpolicy", name: "shift stepPercent above 100", set: []mutation{{"spec.shift.stepPercent", `101`}},
		want: `FailoverPolicy.breakwater.dev "invalid" is invalid: spec.shift.stepPercent: Invalid value: 101: spec.shift.stepPercent in body should be less than or equal to 100`},
	{sample: "failoverpolicy", name: "cooldown 0s", set: []mutation{{"spec.shift.cooldown", `"0s"`}},
		want: `FailoverPolicy.breakwater.dev "invalid" is invalid: spec.shift.cooldown: Invalid value: "0s": cooldown must be a positive duration such as 1m`},
	{sample: "failoverpolicy", name: "stablePeriod 0s", set: []mutation{{"spec.failback.stablePeriod", `"0s"`}},
		want: `FailoverPolicy.breakwater.dev "invalid" is invalid: spec.failback.stablePeriod: Invalid value: "0s": stablePeriod must be a positive duration such as 5m`},
	{sample: "failoverpolicy", name: "failback stepPercent 0", set: []mutation{{"spec.failback.stepPercent", `0`}},
		want: `FailoverPolicy.breakwater.dev "invalid" is invalid: spec.failback.stepPercent: Invalid value: 0: spec.failback.stepPercent in body should be greater than or equal to 1`},
	{sample: "failoverpolicy", name: "mode not in the enum", set: []mutation{{"spec.mode", `"auto"`}},
		want: `FailoverPolicy.breakwater.dev "invalid" is invalid: [spec.mode: Unsupported value: "auto": supported values: "enforce", "shadow", <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "genaiworkload", name: "neither workloadRef nor selector", set: []mutation{{"spec.workloadRef", `DEL`}},
		want: `GenAIWorkload.breakwater.dev "invalid" is invalid: spec: Invalid value: set workloadRef (the Deployment or StatefulSet to protect) or selector (the pods to protect)`},
	{sample: "genaiworkload", name: "nothing to protect", set: []mutation{{"spec.modelEndpoints", `[]`}, {"spec.retrievalBackends", `[]`}},
		want: `GenAIWorkload.breakwater.dev "invalid" is invalid: spec: Invalid value: name at least one entry in modelEndpoints or retrievalBackends for the guard to protect`},
	{sample: "genaiworkload", name: "criticality not in the enum", set: []mutation{{"spec.criticality", `"high"`}},
		want: `GenAIWorkload.breakwater.dev "invalid" is invalid: [spec.criticality: Unsupported value: "high": supported values: "critical", "standard", "sheddable", <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "genaiworkload", name: "workloadRef kind Job", set: []mutation{{"spec.workloadRef.kind", `"Job"`}},
		want: `GenAIWorkload.breakwater.dev "invalid" is invalid: [spec.workloadRef.kind: Unsupported value: "Job": supported values: "Deployment", "StatefulSet", <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "genaiworkload", name: "workloadRef without name", set: []mutation{{"spec.workloadRef.name", `DEL`}},
		want: `GenAIWorkload.breakwater.dev "invalid" is invalid: [spec.workloadRef.name: Required value, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "genaiworkload", name: "workloadRef name not a DNS name", set: []mutation{{"spec.workloadRef.name", `"Support_Assistant"`}},
		want: `GenAIWorkload.breakwater.dev "invalid" is invalid: spec.workloadRef.name: Invalid value: "Support_Assistant": spec.workloadRef.name in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'`},
	{sample: "genaiworkload", name: "duplicate modelEndpoints", set: []mutation{{"spec.modelEndpoints", `[{"name":"a"},{"name":"a"}]`}},
		want: `GenAIWorkload.breakwater.dev "invalid" is invalid: spec.modelEndpoints[1]: Duplicate value: {"name":"a"}`},
	{sample: "genaiworkload", name: "more than 32 modelEndpoints", set: []mutation{{"spec.modelEndpoints", `ENDPOINTS33`}},
		want: `GenAIWorkload.breakwater.dev "invalid" is invalid: [spec.modelEndpoints: Too many: 33: must have at most 32 items, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "genaiworkload", name: "more than 32 retrievalBackends", set: []mutation{{"spec.retrievalBackends", `ENDPOINTS33`}},
		want: `GenAIWorkload.breakwater.dev "invalid" is invalid: [spec.retrievalBackends: Too many: 33: must have at most 32 items, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
	{sample: "genaiworkload", name: "shedding minReplicas negative", set: []mutation{{"spec.shedding.minReplicas", `-1`}},
		want: `GenAIWorkload.breakwater.dev "invalid" is invalid: spec.shedding.minReplicas: Invalid value: -1: spec.shedding.minReplicas in body should be greater than or equal to 0`},
	{sample: "genaiworkload", name: "shedding minReplicas above 10000", set: []mutation{{"spec.shedding.minReplicas", `10001`}},
		want: `GenAIWorkload.breakwater.dev "invalid" is invalid: spec.shedding.minReplicas: Invalid value: 10001: spec.shedding.minReplicas in body should be less than or equal to 10000`},
	{sample: "genaiworkload", name: "guard logLevel not in the enum", set: []mutation{{"spec.guard.logLevel", `"trace"`}},
		want: `GenAIWorkload.breakwater.dev "invalid" is invalid: [spec.guard.logLevel: Unsupported value: "trace": supported values: "debug", "info", "warn", "error", <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`},
}

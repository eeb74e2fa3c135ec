package guard

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/breakwater-dev/breakwater/internal/guardconfig"
)

func TestParseModelRoute(t *testing.T) {
	tests := []struct {
		provider guardconfig.Provider
		rest     string
		want     opKind
		ok       bool
	}{
		{guardconfig.OpenAI, "v1/chat/completions", opChat, true},
		{guardconfig.OpenAI, "chat/completions", opChat, true},
		{guardconfig.OpenAI, "v1/embeddings", opEmbeddings, true},
		{guardconfig.OpenAI, "v1/completions", 0, false},
		{guardconfig.Bedrock, "model/anthropic.claude-3%3A0/converse", opConverse, true},
		{guardconfig.Bedrock, "model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.x/converse-stream", opConverseStream, true},
		{guardconfig.Bedrock, "model/arn:aws:bedrock:us-east-1:1:inference-profile/us.x/invoke", opInvoke, true},
		{guardconfig.Bedrock, "model/x/invoke-with-response-stream", opInvokeStream, true},
		{guardconfig.Bedrock, "model/x/apply-guardrail", 0, false},
		{guardconfig.Bedrock, "v1/chat/completions", 0, false},
		{guardconfig.SageMaker, "endpoints/e/invocations", opSageMaker, true},
		{guardconfig.SageMaker, "endpoints/e/invocations-response-stream", opSageMakerStream, true},
		{guardconfig.SageMaker, "endpoints/e/x/invocations", 0, false},
	}
	for _, tt := range tests {
		op, ok := parseModelRoute(tt.provider, tt.rest)
		if ok != tt.ok || (ok && op.kind != tt.want) {
			t.Errorf("parseModelRoute(%s, %q) = %v, %v; want %v, %v", tt.provider, tt.rest, op.kind, ok, tt.want, tt.ok)
		}
	}
}

func TestUpstreamURL(t *testing.T) {
	base, _ := url.Parse("http://127.0.0.1:9/prefix")
	tests := []struct {
		target guardconfig.Target
		op     operation
		want   string
	}{
		{guardconfig.Target{ModelID: "arn:aws:bedrock:us-west-2:1:inference-profile/us.m:0"}, operation{kind: opConverse, suffix: "converse"},
			"http://127.0.0.1:9/prefix/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A1%3Ainference-profile%2Fus.m%3A0/converse"},
		{guardconfig.Target{EndpointName: "my-endpoint"}, operation{kind: opSageMakerStream, suffix: "invocations-response-stream"},
			"http://127.0.0.1:9/prefix/endpoints/my-endpoint/invocations-response-stream"},
		{guardconfig.Target{}, operation{kind: opChat, suffix: "chat/completions"}, "http://127.0.0.1:9/prefix/chat/completions?a=b"},
	}
	for _, tt := range tests {
		q := ""
		if tt.op.kind == opChat {
			q = "a=b"
		}
		got := upstreamURL(&target{cfg: tt.target, base: base}, tt.op, q).String()
		if got != tt.want {
			t.Errorf("upstreamURL = %s, want %s", got, tt.want)
		}
	}
}

func TestForwardHeadersDropsCredentials(t *testing.T) {
	in := map[string][]string{
		"Authorization": {"AWS4-HMAC-SHA256 Credential=APP"}, "X-Amz-Date": {"x"}, "X-Amz-Security-Token": {"t"},
		"X-Api-Key": {"k"}, "Api-Key": {"k"}, "Cookie": {"c"}, "Amz-Sdk-Request": {"attempt=1"}, "Connection": {"close"},
		"Content-Type": {"application/json"}, "X-Amzn-Bedrock-Trace": {"ENABLED"}, "Accept-Encoding": {"gzip"},
	}
	got := forwardHeaders(in)
	want := map[string][]string{"Content-Type": {"application/json"}, "X-Amzn-Bedrock-Trace": {"ENABLED"}, "Accept-Encoding": {"identity"}}
	if diff := cmp.Diff(want, map[string][]string(got)); diff != "" {
		t.Errorf("forwarded headers (-want +got):\n%s", diff)
	}
}

func TestTrimArray(t *testing.T) {
	tests := []struct {
		in, path string
		limit    int
		want     string
		ok       bool
	}{
		{`{"hits":{"total":3,"hits":[1,2,3]}}`, "hits.hits", 2, `{"hits":{"hits":[1,2],"total":3}}`, true},
		{`{"hits":{"hits":[1]}}`, "hits.hits", 2, "", false},
		{`{"results":"nope"}`, "results", 1, "", false},
		{`[1,2]`, "results", 1, "", false},
	}
	for _, tt := range tests {
		got, ok := trimArray([]byte(tt.in), strings.Split(tt.path, "."), tt.limit)
		if ok != tt.ok || string(got) != tt.want {
			t.Errorf("trimArray(%s) = %s, %v; want %s, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzTrimArray(f *testing.F) {
	f.Add([]byte(`{"hits":{"hits":[{"_id":"1"},{"_id":"2"},{"_id":"3"}]}}`), "hits.hits", 2)
	f.Add([]byte(`{"results":[1,2,3]}`), "results", 0)
	f.Add([]byte(`{"a":{"b":{"c":[[],[],{}]}}}`), "a.b.c", 1)
	f.Fuzz(func(t *testing.T, data []byte, path string, limit int) {
		if limit < 0 || limit > 1000 {
			return
		}
		out, ok := trimArray(data, strings.Split(path, "."), limit)
		if ok && !json.Valid(out) {
			t.Fatalf("trimArray produced invalid JSON %q", out)
		}
	})
}

func FuzzReplaceModel(f *testing.F) {
	f.Add([]byte(`{"model":"a","messages":[]}`), "gpt-sim")
	f.Add([]byte(`{"messages":[],"stream":true}`), "m")
	f.Add([]byte(`not json`), "m")
	f.Fuzz(func(t *testing.T, body []byte, model string) {
		if !utf8.ValidString(model) {
			return // model IDs come from the decoded JSON config: always valid UTF-8
		}
		out := replaceModel(body, model)
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) != nil {
			if string(out) != string(body) {
				t.Fatal("a body that is not a JSON object was changed")
			}
			return
		}
		var got struct{ Model string }
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("invalid output: %v", err)
		}
		if got.Model != model {
			t.Fatalf("model = %q, want %q", got.Model, model)
		}
	})
}

func FuzzRoute(f *testing.F) {
	f.Add("/m/claude/model/anthropic.claude%3A0/converse")
	f.Add("/m/gpt/v1/chat/completions")
	f.Add("/r/docs/index/_search")
	f.Add("/m//")
	f.Fuzz(func(t *testing.T, path string) {
		kind, name, rest := splitRoute(path)
		if kind == "" && (name != "" || rest != "") {
			t.Fatal("no route but a name")
		}
		base, _ := url.Parse("https://bedrock-runtime.us-east-1.amazonaws.com")
		for _, p := range []guardconfig.Provider{guardconfig.OpenAI, guardconfig.Bedrock, guardconfig.SageMaker} {
			if op, ok := parseModelRoute(p, rest); ok {
				u := upstreamURL(&target{cfg: guardconfig.Target{ModelID: rest, EndpointName: name}, base: base}, op, "")
				if _, err := url.Parse(u.String()); err != nil {
					t.Fatalf("upstream URL does not parse: %v", err)
				}
				if u.Host != base.Host {
					t.Fatalf("upstream host changed to %q", u.Host)
				}
			}
		}
	})
}

func TestAWSEscape(t *testing.T) {
	if got, want := awsEscape("arn:aws:bedrock:us-east-1:1:inference-profile/us.x-y_z~"), "arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.x-y_z~"; got != want {
		t.Errorf("awsEscape = %s, want %s", got, want)
	}
}

func FuzzCapDocuments(f *testing.F) {
	f.Add([]byte(`{"size":50,"query":{"knn":{"v":{"vector":[1,2],"k":40}}}}`), "", 5, true)
	f.Add([]byte(`{"query":"q","top_k":25}`), "top_k", 3, false)
	f.Add([]byte(``), "size", 5, true)
	f.Fuzz(func(t *testing.T, body []byte, size string, limit int, opensearch bool) {
		if limit < 1 || limit > 10000 {
			return
		}
		b := &backend{cfg: guardconfig.RetrievalBackend{Type: guardconfig.HTTPSearch, CapField: "top_k"}}
		if opensearch {
			b.cfg.Type = guardconfig.OpenSearch
		}
		q := url.Values{}
		if size != "" {
			q.Set("size", size)
		}
		out, _, err := capDocuments(b, body, q, limit)
		if err == nil && len(out) > 0 && json.Valid(body) && !json.Valid(out) {
			t.Fatalf("capDocuments turned valid JSON into invalid %q", out)
		}
	})
}

func FuzzSageMakerUsageTap(f *testing.F) {
	f.Add([]byte{0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 3)
	f.Add([]byte("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\n"), 7)
	f.Fuzz(func(t *testing.T, data []byte, chunk int) {
		if chunk < 1 {
			return
		}
		tap := newSageMakerUsageTap(&chunkedReader{data: data, n: chunk})
		var out strings.Builder
		if _, err := io.Copy(&out, tap); err != nil {
			t.Fatal(err)
		}
		if out.String() != string(data) {
			t.Fatal("the tap changed the bytes")
		}
	})
}

// chunkedReader returns data n bytes at a time, as a network read might.
type chunkedReader struct {
	data []byte
	n    int
}

func (r *chunkedReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	k := min(r.n, len(p), len(r.data))
	copy(p, r.data[:k])
	r.data = r.data[k:]
	return k, nil
}

func TestWholeUsage(t *testing.T) {
	type got struct {
		In, Out int64
		OK      bool
	}
	bedrockHeaders := http.Header{}
	bedrockHeaders.Set("X-Amzn-Bedrock-Input-Token-Count", "11")
	bedrockHeaders.Set("X-Amzn-Bedrock-Output-Token-Count", "22")
	tests := []struct {
		name string
		op   opKind
		h    http.Header
		data string
		want got
	}{
		{"chat", opChat, nil, `{"choices":[{"message":{"content":"the \"usage\" is","usage":{"prompt_tokens":99}}}],"usage":{"prompt_tokens":10,"completion_tokens":20}}`, got{10, 20, true}},
		{"chat without usage", opChat, nil, `{"choices":[{"message":{"content":"usage"}}]}`, got{}},
		{"embeddings", opEmbeddings, nil, `{"data":[],"usage":{"prompt_tokens":8,"total_tokens":8}}`, got{8, 0, true}},
		{"sagemaker openai format", opSageMaker, nil, `{"usage":{"prompt_tokens":-1,"completion_tokens":3}}`, got{0, 3, true}},
		{"converse", opConverse, nil, `{"output":{"message":{"content":[{"text":"usage"}]}},"usage":{"inputTokens":5,"outputTokens":6,"totalTokens":11}}`, got{5, 6, true}},
		{"converse nested usage only", opConverse, nil, `{"output":{"usage":{"inputTokens":5}}}`, got{}},
		{"converse malformed", opConverse, nil, `{"usage":{"inputTokens":5}`, got{}},
		{"invoke headers", opInvoke, bedrockHeaders, `{"usage":{"input_tokens":1}}`, got{11, 22, true}},
		{"invoke without headers", opInvoke, http.Header{}, `{}`, got{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, out, ok := wholeUsage(operation{kind: tc.op}, tc.h, []byte(tc.data))
			if diff := cmp.Diff(tc.want, got{in, out, ok}); diff != "" {
				t.Errorf("wholeUsage mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

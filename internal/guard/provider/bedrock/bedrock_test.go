package bedrock

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/breakwater-dev/breakwater/internal/guard/provider"
)

func TestRoute(t *testing.T) {
	tests := []struct {
		rest string
		want int
		ok   bool
	}{
		{"model/anthropic.claude-3%3A0/converse", Converse, true},
		{"model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.x/converse-stream", ConverseStream, true},
		{"model/arn:aws:bedrock:us-east-1:1:inference-profile/us.x/invoke", Invoke, true},
		{"model/x/invoke-with-response-stream", InvokeStream, true},
		{"model/x/apply-guardrail", 0, false},
		{"v1/chat/completions", 0, false},
	}
	for _, tt := range tests {
		op, ok := Provider{}.Route(tt.rest)
		if ok != tt.ok || (ok && op.Kind != tt.want) {
			t.Errorf("Route(%q) = %v, %v; want %v, %v", tt.rest, op.Kind, ok, tt.want, tt.ok)
		}
		if ok && op.Stream != (op.Kind == ConverseStream || op.Kind == InvokeStream) {
			t.Errorf("Route(%q).Stream = %v", tt.rest, op.Stream)
		}
	}
}

func TestUpstream(t *testing.T) {
	base, _ := url.Parse("http://127.0.0.1:9/prefix")
	op, _ := Provider{}.Route("model/x/converse")
	u, _ := Provider{}.Upstream(op, &provider.Target{Base: base, ModelID: "arn:aws:bedrock:us-west-2:1:inference-profile/us.m:0"}, "", nil)
	if got, want := u.String(), "http://127.0.0.1:9/prefix/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A1%3Ainference-profile%2Fus.m%3A0/converse"; got != want {
		t.Errorf("URL = %s, want %s", got, want)
	}
}

func TestUsage(t *testing.T) {
	headers := http.Header{}
	headers.Set("X-Amzn-Bedrock-Input-Token-Count", "11")
	headers.Set("X-Amzn-Bedrock-Output-Token-Count", "22")
	tests := []struct {
		name string
		kind int
		h    http.Header
		data string
		want provider.Usage
	}{
		{"converse", Converse, nil, `{"output":{"message":{"content":[{"text":"usage"}]}},"usage":{"inputTokens":5,"outputTokens":6,"totalTokens":11}}`, provider.Usage{In: 5, Out: 6, Seen: true}},
		{"converse nested usage only", Converse, nil, `{"output":{"usage":{"inputTokens":5}}}`, provider.Usage{}},
		{"converse malformed", Converse, nil, `{"usage":{"inputTokens":5}`, provider.Usage{}},
		{"invoke headers", Invoke, headers, `{"usage":{"input_tokens":1}}`, provider.Usage{In: 11, Out: 22, Seen: true}},
		{"invoke without headers", Invoke, http.Header{}, `{}`, provider.Usage{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Provider{}.Usage(provider.Operation{Kind: tc.kind}, tc.h, []byte(tc.data))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Usage mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

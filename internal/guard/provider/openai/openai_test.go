package openai

import (
	"bytes"
	"encoding/json"
	"net/url"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/breakwater-dev/breakwater/internal/guard/provider"
)

func FuzzReplaceModel(f *testing.F) {
	f.Add([]byte(`{"model":"a","messages":[]}`), "gpt-sim")
	f.Add([]byte(`{"messages":[],"stream":true}`), "m")
	f.Add([]byte(`not json`), "m")
	f.Fuzz(func(t *testing.T, body []byte, model string) {
		if !utf8.ValidString(model) {
			return // model IDs come from the decoded JSON config: always valid UTF-8
		}
		out := ReplaceModel(body, model)
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) != nil {
			if !bytes.Equal(out, body) {
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

func TestRoute(t *testing.T) {
	tests := []struct {
		rest string
		want int
		ok   bool
	}{
		{"v1/chat/completions", Chat, true},
		{"chat/completions", Chat, true},
		{"v1/embeddings", Embeddings, true},
		{"v1/completions", 0, false},
		{"model/x/converse", 0, false},
	}
	for _, tt := range tests {
		op, ok := Provider{}.Route(tt.rest)
		if ok != tt.ok || (ok && op.Kind != tt.want) {
			t.Errorf("Route(%q) = %v, %v; want %v, %v", tt.rest, op.Kind, ok, tt.want, tt.ok)
		}
	}
}

func TestUpstream(t *testing.T) {
	base, _ := url.Parse("http://127.0.0.1:9/prefix")
	op, _ := Provider{}.Route("v1/chat/completions")
	u, body := Provider{}.Upstream(op, &provider.Target{Base: base, ModelID: "gpt-sim"}, "a=b", []byte(`{"model":"app"}`))
	if got, want := u.String(), "http://127.0.0.1:9/prefix/chat/completions?a=b"; got != want {
		t.Errorf("URL = %s, want %s", got, want)
	}
	if got, want := string(body), `{"model":"gpt-sim"}`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name, data string
		want       provider.Usage
	}{
		{"chat", `{"choices":[{"message":{"content":"the \"usage\" is","usage":{"prompt_tokens":99}}}],"usage":{"prompt_tokens":10,"completion_tokens":20}}`, provider.Usage{In: 10, Out: 20, Seen: true}},
		{"chat without usage", `{"choices":[{"message":{"content":"usage"}}]}`, provider.Usage{}},
		{"embeddings", `{"data":[],"usage":{"prompt_tokens":8,"total_tokens":8}}`, provider.Usage{In: 8, Seen: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Provider{}.Usage(provider.Operation{}, nil, []byte(tc.data))); diff != "" {
				t.Errorf("Usage mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

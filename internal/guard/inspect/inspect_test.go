package inspect

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sameSlice reports whether out is the very slice passed in (no copy).
func sameSlice(in, out []byte) bool {
	return len(in) == len(out) && (len(in) == 0 || &in[0] == &out[0])
}

func TestEstimateTokens(t *testing.T) {
	tests := []struct {
		bytes int
		want  int64
	}{{-1, 0}, {0, 0}, {1, 1}, {3, 1}, {4, 1}, {5, 2}, {8, 2}, {9, 3}, {4000, 1000}, {4001, 1001}}
	for _, tc := range tests {
		if got := EstimateTokens(tc.bytes); got != tc.want {
			t.Errorf("EstimateTokens(%d) = %d, want %d", tc.bytes, got, tc.want)
		}
	}
}

type rewriteCase struct {
	name     string
	body     string
	clamp    int64
	want     Info
	wantBody string // "" means the input must come back as the same slice
	wantErr  string
}

func runRewrite(t *testing.T, fn func([]byte, int64) (Info, []byte, error), tests []rewriteCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.body)
			info, out, err := fn(in, tc.clamp)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if diff := cmp.Diff(tc.want, info); diff != "" {
				t.Errorf("Info mismatch (-want +got):\n%s", diff)
			}
			if tc.wantBody == "" {
				if !sameSlice(in, out) {
					t.Errorf("body changed to %s, want the original slice back", out)
				}
				return
			}
			if diff := cmp.Diff(tc.wantBody, string(out)); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOpenAIChat(t *testing.T) {
	runRewrite(t, OpenAIChat, []rewriteCase{
		{
			name: "nothing to change returns the same slice",
			body: `{"model":"gpt-4o","messages":[{"role":"user","content":"Hello there, how are you?"}],"temperature":0.2}`,
			want: Info{PromptTokens: 7, Model: "gpt-4o"},
		},
		{
			name:     "lowers max_tokens and keeps unknown fields in place",
			body:     `{"model":"m","max_tokens":4096,"x_vendor":{"a":[1,2]},"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]}`,
			clamp:    100,
			want:     Info{PromptTokens: 3, MaxTokens: 100, Model: "m"},
			wantBody: `{"model":"m","max_tokens":100,"x_vendor":{"a":[1,2]},"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]}`,
		},
		{
			name:  "smaller max_tokens is kept",
			body:  `{"messages":[],"max_tokens":50}`,
			clamp: 100,
			want:  Info{MaxTokens: 50},
		},
		{
			name:     "absent limit is added as max_completion_tokens",
			body:     `{"messages":[{"role":"user","content":"abcd"}] }`,
			clamp:    256,
			want:     Info{PromptTokens: 1, MaxTokens: 256},
			wantBody: `{"messages":[{"role":"user","content":"abcd"}] ,"max_completion_tokens":256}`,
		},
		{
			name:     "empty object gets the limit without a comma",
			body:     `{}`,
			clamp:    10,
			want:     Info{MaxTokens: 10},
			wantBody: `{"max_completion_tokens":10}`,
		},
		{
			name:     "both fields clamped, the lower binds",
			body:     `{"max_tokens":30,"max_completion_tokens":9000}`,
			clamp:    100,
			want:     Info{MaxTokens: 30},
			wantBody: `{"max_tokens":30,"max_completion_tokens":100}`,
		},
		{
			name:     "null limit gets the clamp",
			body:     `{"max_tokens":null}`,
			clamp:    64,
			want:     Info{MaxTokens: 64},
			wantBody: `{"max_tokens":64}`,
		},
		{
			name:     "negative limit means unlimited and gets the clamp",
			body:     `{"max_tokens":-1}`,
			clamp:    64,
			want:     Info{MaxTokens: 64},
			wantBody: `{"max_tokens":64}`,
		},
		{
			name:     "huge and fractional values",
			body:     `{"max_tokens":1e30,"max_completion_tokens":12.5}`,
			clamp:    64,
			want:     Info{MaxTokens: 12},
			wantBody: `{"max_tokens":64,"max_completion_tokens":12.5}`,
		},
		{
			name:     "escaped key is recognised",
			body:     `{"max\u005ftokens":5000}`,
			clamp:    64,
			want:     Info{MaxTokens: 64},
			wantBody: `{"max\u005ftokens":64}`,
		},
		{
			name:  "no clamp reports the requested value",
			body:  `{"max_completion_tokens":777}`,
			want:  Info{MaxTokens: 777},
			clamp: 0,
		},
		{
			name:     "stream gets include_usage",
			body:     `{"model":"m","stream":true,"messages":[]}`,
			want:     Info{Stream: true, Model: "m"},
			wantBody: `{"model":"m","stream":true,"messages":[],"stream_options":{"include_usage":true}}`,
		},
		{
			name:     "stream with clamp inserts both",
			body:     `{"stream":true}`,
			clamp:    5,
			want:     Info{Stream: true, MaxTokens: 5},
			wantBody: `{"stream":true,"max_completion_tokens":5,"stream_options":{"include_usage":true}}`,
		},
		{
			name: "app asked for usage itself",
			body: `{"stream":true,"stream_options":{"include_usage":true}}`,
			want: Info{Stream: true, AskedUsage: true},
		},
		{
			name:     "include_usage false is turned on",
			body:     `{"stream":true,"stream_options":{"include_usage":false,"x":1}}`,
			want:     Info{Stream: true},
			wantBody: `{"stream":true,"stream_options":{"include_usage":true,"x":1}}`,
		},
		{
			name:     "empty stream_options",
			body:     `{"stream":true,"stream_options":{}}`,
			want:     Info{Stream: true},
			wantBody: `{"stream":true,"stream_options":{"include_usage":true}}`,
		},
		{
			name:     "stream_options without include_usage",
			body:     `{"stream":true,"stream_options":{"continuous_usage_stats":false}}`,
			want:     Info{Stream: true},
			wantBody: `{"stream":true,"stream_options":{"continuous_usage_stats":false,"include_usage":true}}`,
		},
		{
			name:     "null stream_options",
			body:     `{"stream":true,"stream_options":null}`,
			want:     Info{Stream: true},
			wantBody: `{"stream":true,"stream_options":{"include_usage":true}}`,
		},
		{
			name: "stream false leaves stream_options alone",
			body: `{"stream":false,"stream_options":{"include_usage":false}}`,
			want: Info{},
		},
		{
			name: "content parts count text, not images",
			body: `{"messages":[{"role":"user","content":[{"type":"text","text":"abcdefgh"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"}}]}]}`,
			want: Info{PromptTokens: 2},
		},
		{
			name: "tool schemas count at full size",
			body: `{"messages":[],"tools":[{"type":"function"}]}`,
			want: Info{PromptTokens: 6},
		},
		{name: "stream_options of the wrong type", body: `{"stream":true,"stream_options":"yes"}`, wantErr: `field "stream_options" must be an object`},
		{name: "duplicate limit", body: `{"max_tokens":1,"max_tokens":100000}`, clamp: 5, wantErr: `duplicate field "max_tokens"`},
		{name: "duplicate via escape", body: `{"max_tokens":1,"max_\u0074okens":100000}`, clamp: 5, wantErr: `duplicate field "max_tokens"`},
		{name: "limit of the wrong type names the field only", body: `{"messages":[{"role":"user","content":"SECRET"}],"max_tokens":"SECRET"}`, clamp: 5, wantErr: `field "max_tokens" must be a number`},
		{name: "malformed", body: `{"messages":[`, wantErr: errMalformed.Error()},
		{name: "not an object", body: `[1,2]`, wantErr: errMalformed.Error()},
		{name: "trailing garbage", body: `{} {}`, wantErr: errMalformed.Error()},
		{name: "empty", body: ``, wantErr: errMalformed.Error()},
	})
}

func TestOpenAIEmbeddings(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    Info
		wantErr bool
	}{
		{"string", `{"model":"e","input":"abcd"}`, Info{Model: "e", PromptTokens: 1}, false},
		{"strings estimated one by one", `{"input":["abcde","ab"]}`, Info{PromptTokens: 3}, false},
		{"token ids counted exactly", `{"input":[1,2,3]}`, Info{PromptTokens: 3}, false},
		{"batches of token ids", `{"input":[[1,2],[3]]}`, Info{PromptTokens: 3}, false},
		{"empty string", `{"input":""}`, Info{}, false},
		{"escaped model", `{"model":"a\"b"}`, Info{Model: `a"b`}, false},
		{"non-string model", `{"model":5}`, Info{}, false},
		{"duplicate input", `{"input":"a","input":"b"}`, Info{}, true},
		{"malformed", `{"input":`, Info{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := OpenAIEmbeddings([]byte(tc.body))
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Info mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBedrockConverse(t *testing.T) {
	const msgs = `"messages":[{"role":"user","content":[{"text":"abcdefgh"},{"image":{"format":"png","source":{"bytes":"AAAAAAAAAAAAAAAA"}}}]}],"system":[{"text":"abcd"},{"cachePoint":{"type":"default"}}]`
	runRewrite(t, BedrockConverse, []rewriteCase{
		{name: "no clamp", body: `{` + msgs + `}`, want: Info{PromptTokens: 3}},
		{
			name:     "adds inferenceConfig",
			body:     `{` + msgs + `}`,
			clamp:    500,
			want:     Info{PromptTokens: 3, MaxTokens: 500},
			wantBody: `{` + msgs + `,"inferenceConfig":{"maxTokens":500}}`,
		},
		{
			name:     "adds maxTokens to inferenceConfig",
			body:     `{"inferenceConfig":{"temperature":0.5}}`,
			clamp:    500,
			want:     Info{MaxTokens: 500},
			wantBody: `{"inferenceConfig":{"temperature":0.5,"maxTokens":500}}`,
		},
		{
			name:     "lowers maxTokens",
			body:     `{"inferenceConfig":{"maxTokens":9000,"topP":1}}`,
			clamp:    500,
			want:     Info{MaxTokens: 500},
			wantBody: `{"inferenceConfig":{"maxTokens":500,"topP":1}}`,
		},
		{name: "keeps smaller maxTokens", body: `{"inferenceConfig":{"maxTokens":100}}`, clamp: 500, want: Info{MaxTokens: 100}},
		{
			name:     "null inferenceConfig",
			body:     `{"inferenceConfig":null}`,
			clamp:    7,
			want:     Info{MaxTokens: 7},
			wantBody: `{"inferenceConfig":{"maxTokens":7}}`,
		},
		{
			name: "tool results and tool config count",
			body: `{"messages":[{"role":"user","content":[{"toolResult":{"toolUseId":"t","content":[{"text":"abc"}]}}]}],"toolConfig":{"tools":[]}}`,
			want: Info{PromptTokens: 4}, // "t" + "abc" + 12 bytes of toolConfig = 16
		},
		{name: "wrong type", body: `{"inferenceConfig":[]}`, clamp: 7, wantErr: `field "inferenceConfig" must be an object`},
		{name: "duplicate nested", body: `{"inferenceConfig":{"maxTokens":1,"maxTokens":2}}`, clamp: 7, wantErr: `duplicate field "maxTokens"`},
	})
}

func TestBedrockInvoke(t *testing.T) {
	runRewrite(t, BedrockInvoke, []rewriteCase{
		{
			name:     "anthropic lowers max_tokens",
			body:     `{"anthropic_version":"bedrock-2023-05-31","max_tokens":8000,"system":"abcd","messages":[{"role":"user","content":[{"type":"text","text":"abcd"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAAAAAA"}}]}]}`,
			clamp:    1000,
			want:     Info{PromptTokens: 2, MaxTokens: 1000},
			wantBody: `{"anthropic_version":"bedrock-2023-05-31","max_tokens":1000,"system":"abcd","messages":[{"role":"user","content":[{"type":"text","text":"abcd"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAAAAAA"}}]}]}`,
		},
		{
			name:     "anthropic without max_tokens gets it",
			body:     `{"anthropic_version":"bedrock-2023-05-31","messages":[]}`,
			clamp:    1000,
			want:     Info{MaxTokens: 1000},
			wantBody: `{"anthropic_version":"bedrock-2023-05-31","messages":[],"max_tokens":1000}`,
		},
		{
			name:     "llama lowers max_gen_len",
			body:     `{"prompt":"abcd","max_gen_len":2048}`,
			clamp:    512,
			want:     Info{PromptTokens: 1, MaxTokens: 512},
			wantBody: `{"prompt":"abcd","max_gen_len":512}`,
		},
		{
			name:  "llama without a limit is left alone",
			body:  `{"prompt":"abcd"}`,
			clamp: 512,
			want:  Info{PromptTokens: 1},
		},
		{
			name:     "titan lowers maxTokenCount",
			body:     `{"inputText":"abcdefgh","textGenerationConfig":{"maxTokenCount":4096,"temperature":0}}`,
			clamp:    512,
			want:     Info{PromptTokens: 2, MaxTokens: 512},
			wantBody: `{"inputText":"abcdefgh","textGenerationConfig":{"maxTokenCount":512,"temperature":0}}`,
		},
		{
			name:  "titan embeddings get no generation config",
			body:  `{"inputText":"abcd"}`,
			clamp: 512,
			want:  Info{PromptTokens: 1},
		},
		{
			name:     "nova lowers max_new_tokens",
			body:     `{"schemaVersion":"messages-v1","messages":[{"role":"user","content":[{"text":"abcd"}]}],"inferenceConfig":{"max_new_tokens":4000}}`,
			clamp:    512,
			want:     Info{PromptTokens: 1, MaxTokens: 512},
			wantBody: `{"schemaVersion":"messages-v1","messages":[{"role":"user","content":[{"text":"abcd"}]}],"inferenceConfig":{"max_new_tokens":512}}`,
		},
		{
			name:  "mistral within the clamp",
			body:  `{"prompt":"<s>[INST] hi [/INST]","max_tokens":100}`,
			clamp: 512,
			want:  Info{PromptTokens: 5, MaxTokens: 100},
		},
		{name: "limit of the wrong type", body: `{"max_gen_len":true}`, clamp: 5, wantErr: `field "max_gen_len" must be a number`},
		{name: "nested of the wrong type", body: `{"textGenerationConfig":1}`, clamp: 5, wantErr: `field "textGenerationConfig" must be an object`},
	})
}

func TestSearchCap(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		field     string
		limit     int
		wantBody  string // "" means the same slice
		wantAsked int
		wantErr   string
	}{
		{name: "caps top-level", body: `{"query":"q","limit":100}`, field: "limit", limit: 10, wantBody: `{"query":"q","limit":10}`, wantAsked: 100},
		{name: "caps nested", body: `{"params":{"top_k":50,"x":[]}}`, field: "params.top_k", limit: 20, wantBody: `{"params":{"top_k":20,"x":[]}}`, wantAsked: 50},
		{name: "smaller is kept", body: `{"limit":5}`, field: "limit", limit: 10, wantAsked: 5},
		{name: "absent is not added", body: `{"query":"q"}`, field: "limit", limit: 10},
		{name: "absent parent", body: `{"query":"q"}`, field: "params.top_k", limit: 10},
		{name: "null is capped", body: `{"limit":null}`, field: "limit", limit: 10, wantBody: `{"limit":10}`},
		{name: "no limit only reads", body: `{"limit":500}`, field: "limit", limit: 0, wantAsked: 500},
		{name: "empty body", body: ``, field: "limit", limit: 10},
		{name: "wrong type", body: `{"limit":"all"}`, field: "limit", limit: 10, wantErr: `field "limit" must be a number`},
		{name: "parent of the wrong type", body: `{"params":[1]}`, field: "params.top_k", limit: 10, wantErr: `field "params" must be an object`},
		{name: "deep parent of the wrong type", body: `{"a":{"b":1}}`, field: "a.b.c", limit: 10, wantErr: `field "a.b" must be an object`},
		{name: "malformed", body: `{"limit":`, field: "limit", limit: 10, wantErr: errMalformed.Error()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.body)
			out, asked, err := SearchCap(in, tc.field, tc.limit)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if asked != tc.wantAsked {
				t.Errorf("requested = %d, want %d", asked, tc.wantAsked)
			}
			if tc.wantBody == "" {
				if !sameSlice(in, out) {
					t.Errorf("body changed to %s", out)
				}
			} else if diff := cmp.Diff(tc.wantBody, string(out)); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOpenSearchCap(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		limit    int
		wantBody string // "" means the same slice
		wantErr  string
	}{
		{name: "adds size", body: `{"query":{"match_all":{}}}`, limit: 20, wantBody: `{"query":{"match_all":{}},"size":20}`},
		{
			name:     "caps size and every knn k",
			body:     `{"size":100,"query":{"knn":{"vec":{"vector":[1,2],"k":50},"vec2":{"vector":[1],"k":5}}}}`,
			limit:    10,
			wantBody: `{"size":10,"query":{"knn":{"vec":{"vector":[1,2],"k":10},"vec2":{"vector":[1],"k":5}}}}`,
		},
		{name: "within limits", body: `{"size":5,"query":{"knn":{"v":{"k":3}}}}`, limit: 10},
		{name: "null size", body: `{"size":null}`, limit: 10, wantBody: `{"size":10}`},
		{name: "empty body", body: ` `, limit: 10, wantBody: `{"size":10}`},
		{name: "no limit", body: `{"size":1000}`, limit: 0},
		{name: "query of another shape is left alone", body: `{"size":1,"query":"x"}`, limit: 10},
		{name: "bad k", body: `{"size":1,"query":{"knn":{"v":{"k":"many"}}}}`, limit: 10, wantErr: `field "query.knn.k" must be a number`},
		{name: "malformed", body: `{"size":`, limit: 10, wantErr: errMalformed.Error()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.body)
			out, err := OpenSearchCap(in, tc.limit)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.wantBody == "" {
				if !sameSlice(in, out) {
					t.Errorf("body changed to %s", out)
				}
			} else if diff := cmp.Diff(tc.wantBody, string(out)); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// chatBody builds an OpenAI chat request of about size bytes, shaped like a
// RAG prompt: a system prompt, retrieved context, a few turns.
func chatBody(size int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"model":"gpt-4o-mini","temperature":0.2,"max_tokens":4096,"stream":true,"messages":[`)
	sb.WriteString(`{"role":"system","content":"You are a helpful assistant. Answer from the context only."}`)
	para := `Breakwater keeps generative AI workloads sensible when prompts grow, traffic bursts and providers throttle. `
	for i := 0; sb.Len() < size-200; i++ {
		role := "user"
		if i%2 == 1 {
			role = "assistant"
		}
		sb.WriteString(`,{"role":"` + role + `","content":[{"type":"text","text":"` + para + para + `"}]}`)
	}
	sb.WriteString(`],"user":"u-123"}`)
	return []byte(sb.String())
}

func TestChatBodyHelper(t *testing.T) {
	info, _, err := OpenAIChat(chatBody(4096), 512)
	if err != nil {
		t.Fatal(err)
	}
	if info.PromptTokens < 700 || info.MaxTokens != 512 || !info.Stream {
		t.Fatalf("unexpected info %+v", info)
	}
}

func BenchmarkOpenAIChat4KB(b *testing.B) {
	body := chatBody(4096)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := OpenAIChat(body, 512); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenAIChat4KBUnchanged(b *testing.B) {
	body := []byte(strings.Replace(string(chatBody(4096)), `"stream":true`, `"stream":false`, 1))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := OpenAIChat(body, 0); err != nil {
			b.Fatal(err)
		}
	}
}

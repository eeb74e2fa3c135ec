package upstreamsim

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// chatParams asks with a 12-byte prompt: 3 input tokens.
func chatParams(maxTokens int64) openai.ChatCompletionNewParams {
	p := openai.ChatCompletionNewParams{
		Model:    "gpt-sim",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello world!")},
	}
	if maxTokens > 0 {
		p.MaxTokens = openai.Int(maxTokens)
	}
	return p
}

func TestOpenAIChat(t *testing.T) {
	sim := startSim(t, signedOpts())
	tests := []struct {
		name       string
		base       string
		params     openai.ChatCompletionNewParams
		wantOut    int
		wantFinish string
	}{
		{"default", sim.URL(), chatParams(0), 16, "stop"},
		{"max_tokens", sim.URL(), chatParams(4), 4, "length"},
		{"path prefix", sim.URL() + "/m/gpt", chatParams(2), 2, "length"},
		{"max_completion_tokens", sim.URL(), func() openai.ChatCompletionNewParams {
			p := chatParams(0)
			p.MaxCompletionTokens = openai.Int(1)
			return p
		}(), 1, "length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim.ResetStats()
			client := openAIClient(tt.base, testAPIKey)
			c, err := client.Chat.Completions.New(testCtx(t), tt.params)
			if err != nil {
				t.Fatalf("chat: %v", err)
			}
			st := sim.Stats()
			got := []any{c.Model, c.Choices[0].Message.Content, c.Choices[0].FinishReason, c.Usage.PromptTokens, c.Usage.CompletionTokens, c.Usage.TotalTokens, st.Requests, st.LastModelID, st.OutputTokens}
			want := []any{"gpt-sim", answerText(tt.wantOut), tt.wantFinish, int64(3), int64(tt.wantOut), int64(3 + tt.wantOut), map[string]int64{RouteOpenAIChat: 1}, "gpt-sim", int64(tt.wantOut)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("chat (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOpenAIChatStream(t *testing.T) {
	sim := startSim(t, signedOpts())
	tests := []struct {
		name         string
		includeUsage bool
		maxTokens    int64
		wantOut      int
	}{
		{"with usage", true, 0, 16},
		{"with usage, limited", true, 3, 3},
		{"without usage", false, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim.ResetStats()
			client := openAIClient(sim.URL(), testAPIKey)
			p := chatParams(tt.maxTokens)
			if tt.includeUsage {
				p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			}
			stream := client.Chat.Completions.NewStreaming(testCtx(t), p)
			defer stream.Close()
			var (
				acc        openai.ChatCompletionAccumulator
				usageSeen  int
				emptyFinal bool
			)
			for stream.Next() {
				chunk := stream.Current()
				acc.AddChunk(chunk)
				if chunk.JSON.Usage.Valid() && chunk.Usage.TotalTokens > 0 {
					usageSeen++
					emptyFinal = len(chunk.Choices) == 0
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			wantUsage := 0
			if tt.includeUsage {
				wantUsage = 1
			}
			if usageSeen != wantUsage || (tt.includeUsage && !emptyFinal) {
				t.Errorf("usage chunks %d (final with empty choices: %v), want %d", usageSeen, emptyFinal, wantUsage)
			}
			if got := acc.Choices[0].Message.Content; got != answerText(tt.wantOut) {
				t.Errorf("content = %q, want %q", got, answerText(tt.wantOut))
			}
			if tt.includeUsage && (acc.Usage.PromptTokens != 3 || acc.Usage.CompletionTokens != int64(tt.wantOut)) {
				t.Errorf("usage = %+v", acc.Usage)
			}
			if got := sim.Stats().Requests; !cmp.Equal(got, map[string]int64{RouteOpenAIChatStream: 1}) {
				t.Errorf("requests = %v", got)
			}
		})
	}
}

func TestOpenAIEmbeddings(t *testing.T) {
	sim := startSim(t, signedOpts())
	client := openAIClient(sim.URL(), testAPIKey)
	tests := []struct {
		name     string
		input    openai.EmbeddingNewParamsInputUnion
		dims     int64
		wantN    int
		wantDims int
		wantIn   int64
	}{
		{"one string", openai.EmbeddingNewParamsInputUnion{OfString: openai.String("12345678")}, 0, 1, 8, 2},
		{"several strings", openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"abcd", "efgh", "ij"}}, 4, 3, 4, 3},
		{"token ids", openai.EmbeddingNewParamsInputUnion{OfArrayOfTokens: []int64{1, 2, 3}}, 0, 1, 8, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := openai.EmbeddingNewParams{Model: "text-embedding-sim", Input: tt.input}
			if tt.dims > 0 {
				p.Dimensions = openai.Int(tt.dims)
			}
			res, err := client.Embeddings.New(testCtx(t), p)
			if err != nil {
				t.Fatalf("embeddings: %v", err)
			}
			if len(res.Data) != tt.wantN || len(res.Data[0].Embedding) != tt.wantDims || res.Usage.PromptTokens != tt.wantIn {
				t.Errorf("got %d vectors of %d dims, %d prompt tokens", len(res.Data), len(res.Data[0].Embedding), res.Usage.PromptTokens)
			}
		})
	}
	t.Run("base64", func(t *testing.T) {
		status, _, body := post(t, sim.URL()+"/v1/embeddings", `{"model":"m","input":"abc","encoding_format":"base64"}`,
			map[string]string{"Authorization": "Bearer " + testAPIKey})
		var res struct {
			Data []struct {
				Embedding string `json:"embedding"`
			} `json:"data"`
		}
		if status != http.StatusOK || json.Unmarshal(body, &res) != nil || len(res.Data) != 1 {
			t.Fatalf("status %d body %s", status, body)
		}
		raw, err := base64.StdEncoding.DecodeString(res.Data[0].Embedding)
		if err != nil || len(raw) != 4*defaultEmbeddingDimension {
			t.Errorf("base64 embedding: %d bytes, %v", len(raw), err)
		}
	})
	if got := sim.Stats().Requests[RouteOpenAIEmbeddings]; got != 4 {
		t.Errorf("embeddings requests = %d, want 4", got)
	}
}

func TestOpenAIErrors(t *testing.T) {
	sim := startSim(t, signedOpts())
	tests := []struct {
		name       string
		key        string
		faults     Faults
		wantStatus int
		wantCode   string
		retryAfter string
	}{
		{"wrong key", "sk-wrong", Faults{}, 401, "invalid_api_key", ""},
		{"throttled", testAPIKey, Faults{ThrottleRate: 1, RetryAfter: 3e9}, 429, "rate_limit_exceeded", "3"},
		{"server error", testAPIKey, Faults{ErrorRate: 1}, 500, "server_error", ""},
		{"unavailable", testAPIKey, Faults{ErrorRate: 1, ErrorStatus: 503}, 503, "service_unavailable", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim.SetFaults(tt.faults)
			defer sim.SetFaults(Faults{})
			client := openAIClient(sim.URL(), tt.key)
			_, err := client.Chat.Completions.New(testCtx(t), chatParams(1))
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("error = %v, want *openai.Error", err)
			}
			got := []any{apiErr.StatusCode, apiErr.Code, apiErr.Response.Header.Get("Retry-After")}
			if diff := cmp.Diff([]any{tt.wantStatus, tt.wantCode, tt.retryAfter}, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
	st := sim.Stats()
	if st.AuthFailures != 1 || st.Throttled != 1 || st.Errors != 2 {
		t.Errorf("auth failures %d throttled %d errors %d, want 1 1 2", st.AuthFailures, st.Throttled, st.Errors)
	}

	t.Run("streaming throttled", func(t *testing.T) {
		sim.SetFaults(Faults{ThrottleRate: 1})
		defer sim.SetFaults(Faults{})
		stream := openAIClient(sim.URL(), testAPIKey).Chat.Completions.NewStreaming(testCtx(t), chatParams(1))
		defer stream.Close()
		var apiErr *openai.Error
		if stream.Next() || !errors.As(stream.Err(), &apiErr) || apiErr.StatusCode != 429 {
			t.Errorf("stream error = %v, want 429", stream.Err())
		}
	})
	t.Run("in-stream error", func(t *testing.T) {
		sim.SetFaults(Faults{StreamErrorAfterEvents: 2})
		defer sim.SetFaults(Faults{})
		stream := openAIClient(sim.URL(), testAPIKey).Chat.Completions.NewStreaming(testCtx(t), chatParams(0))
		defer stream.Close()
		var content strings.Builder
		for stream.Next() {
			for _, c := range stream.Current().Choices {
				content.WriteString(c.Delta.Content)
			}
		}
		var se *ssestream.StreamError
		if !errors.As(stream.Err(), &se) || content.String() != "tok0 tok1" {
			t.Errorf("content %q, error %v; want two tokens then a stream error", content.String(), stream.Err())
		}
	})
	t.Run("no key configured accepts any", func(t *testing.T) {
		open := startSim(t, Options{})
		if _, err := openAIClient(open.URL(), "whatever").Chat.Completions.New(testCtx(t), chatParams(1)); err != nil {
			t.Errorf("chat: %v", err)
		}
	})
}

// TestLastHeaders checks what a guard test relies on: the headers of the
// last request are visible, including the caller's Authorization.
func TestLastHeaders(t *testing.T) {
	sim := startSim(t, Options{})
	client := openai.NewClient(option.WithBaseURL(sim.URL()+"/x/v1/"), option.WithAPIKey("sk-app"),
		option.WithHeader("Accept-Encoding", "identity"), option.WithMaxRetries(0))
	if _, err := client.Chat.Completions.New(testCtx(t), chatParams(1)); err != nil {
		t.Fatal(err)
	}
	h := sim.Stats().LastHeaders
	if h.Get("Authorization") != "Bearer sk-app" || h.Get("Accept-Encoding") != "identity" {
		t.Errorf("last headers: Authorization %q, Accept-Encoding %q", h.Get("Authorization"), h.Get("Accept-Encoding"))
	}
}

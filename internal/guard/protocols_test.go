package guard_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemakerruntime/types"
	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
)

func userMessage() []brtypes.Message {
	return []brtypes.Message{{Role: brtypes.ConversationRoleUser, Content: []brtypes.ContentBlock{&brtypes.ContentBlockMemberText{Value: "hello there"}}}}
}

func TestBedrockThroughGuard(t *testing.T) {
	h := newHarness(t, nil)
	client := h.bedrock()
	ctx := context.Background()
	tests := []struct {
		name  string
		route string
		call  func(t *testing.T) (in, out int64)
	}{
		{"Converse", "bedrock.converse", func(t *testing.T) (int64, int64) {
			out, err := client.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String("app-model"), Messages: userMessage()})
			if err != nil {
				t.Fatalf("Converse: %v", err)
			}
			if out.Output == nil {
				t.Fatal("Converse answered no output")
			}
			return int64(aws.ToInt32(out.Usage.InputTokens)), int64(aws.ToInt32(out.Usage.OutputTokens))
		}},
		{"ConverseStream", "bedrock.converse-stream", func(t *testing.T) (int64, int64) {
			out, err := client.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String("app-model"), Messages: userMessage()})
			if err != nil {
				t.Fatalf("ConverseStream: %v", err)
			}
			stream := out.GetStream()
			defer stream.Close()
			var in, o int64
			deltas := 0
			for ev := range stream.Events() {
				switch v := ev.(type) {
				case *brtypes.ConverseStreamOutputMemberContentBlockDelta:
					deltas++
				case *brtypes.ConverseStreamOutputMemberMetadata:
					in, o = int64(aws.ToInt32(v.Value.Usage.InputTokens)), int64(aws.ToInt32(v.Value.Usage.OutputTokens))
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			if deltas == 0 {
				t.Error("no content deltas")
			}
			return in, o
		}},
		{"InvokeModel", "bedrock.invoke", func(t *testing.T) (int64, int64) {
			body := `{"anthropic_version":"bedrock-2023-05-31","max_tokens":50,"messages":[{"role":"user","content":"hello there"}]}`
			out, err := client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String("app-model"), Body: []byte(body),
				ContentType: aws.String("application/json")})
			if err != nil {
				t.Fatalf("InvokeModel: %v", err)
			}
			var v struct {
				Usage struct {
					In  int64 `json:"input_tokens"`
					Out int64 `json:"output_tokens"`
				} `json:"usage"`
			}
			if err := json.Unmarshal(out.Body, &v); err != nil {
				t.Fatalf("InvokeModel body: %v", err)
			}
			return v.Usage.In, v.Usage.Out
		}},
		{"InvokeModelWithResponseStream", "bedrock.invoke-stream", func(t *testing.T) (int64, int64) {
			body := `{"anthropic_version":"bedrock-2023-05-31","max_tokens":50,"messages":[{"role":"user","content":"hello there"}]}`
			out, err := client.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{
				ModelId: aws.String("app-model"), Body: []byte(body), ContentType: aws.String("application/json")})
			if err != nil {
				t.Fatalf("InvokeModelWithResponseStream: %v", err)
			}
			stream := out.GetStream()
			defer stream.Close()
			var in, o int64
			for ev := range stream.Events() {
				chunk, ok := ev.(*brtypes.ResponseStreamMemberChunk)
				if !ok {
					continue
				}
				var v struct {
					Metrics *struct {
						In  int64 `json:"inputTokenCount"`
						Out int64 `json:"outputTokenCount"`
					} `json:"amazon-bedrock-invocationMetrics"`
				}
				if json.Unmarshal(chunk.Value.Bytes, &v) == nil && v.Metrics != nil {
					in, o = v.Metrics.In, v.Metrics.Out
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			return in, o
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.east.ResetStats()
			inBefore := h.value(h.m.TokensTotal.WithLabelValues("claude", "east", "input"))
			outBefore := h.value(h.m.TokensTotal.WithLabelValues("claude", "east", "output"))
			in, out := tt.call(t)
			st := h.east.Stats()
			if got := st.Requests[tt.route]; got != 1 {
				t.Errorf("simulator saw %d %s requests, want 1 (%v)", got, tt.route, st.Requests)
			}
			if st.LastModelID != modelEast {
				t.Errorf("upstream model = %q, want the target's %q", st.LastModelID, modelEast)
			}
			checkSigned(t, h.east, "us-east-1")
			if in == 0 || out == 0 {
				t.Fatalf("the app saw no usage (in %d, out %d)", in, out)
			}
			got := []float64{
				h.value(h.m.TokensTotal.WithLabelValues("claude", "east", "input")) - inBefore,
				h.value(h.m.TokensTotal.WithLabelValues("claude", "east", "output")) - outBefore,
			}
			if diff := cmp.Diff([]float64{float64(in), float64(out)}, got); diff != "" {
				t.Errorf("tokens counted by the guard (-app saw +metric):\n%s", diff)
			}
		})
	}
	if got := h.value(h.m.RequestsTotal.WithLabelValues("claude", "east", "success")); got != 4 {
		t.Errorf("requests_total{outcome=success} = %g, want 4", got)
	}
	if got := h.value(h.m.CostTotal.WithLabelValues("claude", "east")); got <= 0 {
		t.Errorf("cost_total = %g, want > 0", got)
	}
}

func TestSageMakerThroughGuard(t *testing.T) {
	h := newHarness(t, nil)
	client := h.sagemaker()
	ctx := context.Background()
	body := []byte(`{"messages":[{"role":"user","content":"hello there"}],"max_tokens":20}`)

	out, err := client.InvokeEndpoint(ctx, &sagemakerruntime.InvokeEndpointInput{
		EndpointName: aws.String("app-endpoint"), Body: body, ContentType: aws.String("application/json")})
	if err != nil {
		t.Fatalf("InvokeEndpoint: %v", err)
	}
	if !strings.Contains(string(out.Body), "usage") {
		t.Errorf("InvokeEndpoint body has no usage")
	}
	st := h.east.Stats()
	if st.LastModelID != "llm-east" {
		t.Errorf("upstream endpoint = %q, want the target's llm-east", st.LastModelID)
	}
	checkSigned(t, h.east, "us-east-1")

	outBefore := h.value(h.m.TokensTotal.WithLabelValues("sm", "east", "output"))
	sout, err := client.InvokeEndpointWithResponseStream(ctx, &sagemakerruntime.InvokeEndpointWithResponseStreamInput{
		EndpointName: aws.String("app-endpoint"), Body: body, ContentType: aws.String("application/json")})
	if err != nil {
		t.Fatalf("InvokeEndpointWithResponseStream: %v", err)
	}
	stream := sout.GetStream()
	parts := 0
	for ev := range stream.Events() {
		if _, ok := ev.(*smtypes.ResponseStreamMemberPayloadPart); ok {
			parts++
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	stream.Close()
	if parts == 0 {
		t.Error("no payload parts")
	}
	st = h.east.Stats()
	if diff := cmp.Diff(map[string]int64{"sagemaker.invoke": 1, "sagemaker.invoke-stream": 1}, nonZero(st.Requests)); diff != "" {
		t.Errorf("simulator requests (-want +got):\n%s", diff)
	}
	checkSigned(t, h.east, "us-east-1")
	if got := h.value(h.m.TokensTotal.WithLabelValues("sm", "east", "output")) - outBefore; got != 8 {
		t.Errorf("output tokens counted from the SageMaker stream = %g, want the simulator's 8", got)
	}
}

func nonZero(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func TestOpenAIThroughGuard(t *testing.T) {
	h := newHarness(t, nil)
	client := h.openai()
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{
		Model:    "app-model",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello there")},
	}

	t.Run("chat", func(t *testing.T) {
		resp, err := client.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatalf("chat: %v", err)
		}
		if len(resp.Choices) == 0 || resp.Usage.CompletionTokens == 0 {
			t.Fatalf("chat answer without choices or usage: %+v", resp.Usage)
		}
		st := h.east.Stats()
		if st.LastModelID != "gpt-sim" {
			t.Errorf("upstream model = %q, want the target's gpt-sim", st.LastModelID)
		}
		if got := st.LastHeaders.Get("Authorization"); got != "Bearer "+openAIKey {
			t.Errorf("upstream Authorization = %q, want the key from the Secret file", got)
		}
	})

	for _, askUsage := range []bool{false, true} {
		name := "stream"
		if askUsage {
			name = "stream with include_usage"
		}
		t.Run(name, func(t *testing.T) {
			p := params
			if askUsage {
				p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			}
			before := h.value(h.m.TokensTotal.WithLabelValues("gpt", "primary", "output"))
			stream := client.Chat.Completions.NewStreaming(ctx, p)
			var text strings.Builder
			usageChunks := 0
			var usageOut int64
			for stream.Next() {
				c := stream.Current()
				if len(c.Choices) == 0 {
					usageChunks++
					usageOut = c.Usage.CompletionTokens
					continue
				}
				text.WriteString(c.Choices[0].Delta.Content)
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			if text.Len() == 0 {
				t.Error("no streamed content")
			}
			wantChunks := 0
			if askUsage {
				wantChunks = 1
			}
			if usageChunks != wantChunks {
				t.Errorf("the app got %d usage-only chunks, want %d", usageChunks, wantChunks)
			}
			counted := h.value(h.m.TokensTotal.WithLabelValues("gpt", "primary", "output")) - before
			if counted == 0 {
				t.Error("the guard counted no output tokens for the stream")
			}
			if askUsage && float64(usageOut) != counted {
				t.Errorf("guard counted %g output tokens, the app's usage chunk says %d", counted, usageOut)
			}
		})
	}

	t.Run("embeddings", func(t *testing.T) {
		resp, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model: "app-embed",
			Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"first", "second"}},
		})
		if err != nil {
			t.Fatalf("embeddings: %v", err)
		}
		if len(resp.Data) != 2 {
			t.Errorf("got %d embeddings, want 2", len(resp.Data))
		}
		if got := h.value(h.m.TokensTotal.WithLabelValues("gpt", "primary", "input")); got == 0 {
			t.Error("no input tokens counted")
		}
	})
	if n := h.east.Stats().Requests; n["openai.chat"]+n["openai.chat.stream"] != 3 || n["openai.embeddings"] != 1 {
		t.Errorf("simulator requests: %v", n)
	}
}

// A base URL ending in "/" makes the AWS SDKs ask for /m/claude//model/...; the OpenAI SDK
// already tolerates it (h.openai uses one).
func TestBedrockBaseURLWithTrailingSlash(t *testing.T) {
	h := newHarness(t, nil)
	client := h.bedrockAt("/m/claude/")
	if _, err := client.Converse(context.Background(), &bedrockruntime.ConverseInput{ModelId: aws.String("app-model"), Messages: userMessage()}); err != nil {
		t.Fatalf("Converse with a trailing slash in the base URL: %v", err)
	}
}

// An unknown endpoint name on a Bedrock path answers in Bedrock's shape, so the SDK reports the
// guard's message instead of an UnknownError.
func TestBedrockSDKReadsUnknownEndpoint(t *testing.T) {
	h := newHarness(t, nil)
	client := h.bedrockAt("/m/nope")
	_, err := client.Converse(context.Background(), &bedrockruntime.ConverseInput{ModelId: aws.String("app-model"), Messages: userMessage()})
	var notFound *brtypes.ResourceNotFoundException
	if !errors.As(err, &notFound) || !strings.Contains(notFound.ErrorMessage(), "no endpoint or retrieval backend is configured") {
		t.Fatalf("Converse at an unknown endpoint: %v, want a ResourceNotFoundException with the guard's message", err)
	}
}

package upstreamsim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-cmp/cmp"
)

const (
	claudeID = "anthropic.claude-3-haiku-20240307-v1:0"
	// profileARN has the ':' and '/' that must survive URL encoding.
	profileARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20240620-v1:0"
)

// converseInput asks with a 12-byte user prompt and an 8-byte system prompt:
// 20 bytes, 5 input tokens.
func converseInput(model string, maxTokens int32) *bedrockruntime.ConverseInput {
	in := &bedrockruntime.ConverseInput{
		ModelId: aws.String(model),
		System:  []types.SystemContentBlock{&types.SystemContentBlockMemberText{Value: "be brief"}},
		Messages: []types.Message{{
			Role:    types.ConversationRoleUser,
			Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "hello world!"}},
		}},
	}
	if maxTokens > 0 {
		in.InferenceConfig = &types.InferenceConfiguration{MaxTokens: aws.Int32(maxTokens)}
	}
	return in
}

// converseSummary is what TestBedrockConverse compares: the answer as the
// client parsed it and what the sim recorded.
type converseSummary struct {
	Role       types.ConversationRole
	Text       string
	Stop       types.StopReason
	Usage      [3]int32 // input, output, total
	HasLatency bool
	Requests   map[string]int64
	Model      string
	Served     [2]int64 // input, output tokens in Stats
}

func TestBedrockConverse(t *testing.T) {
	sim := startSim(t, signedOpts())
	tests := []struct {
		name      string
		base      string
		model     string
		maxTokens int32
		wantText  string
		wantStop  types.StopReason
		wantOut   int32
	}{
		{"default length", sim.URL(), claudeID, 0, answerText(16), types.StopReasonEndTurn, 16},
		{"max tokens below default", sim.URL(), claudeID, 3, "tok0 tok1 tok2", types.StopReasonMaxTokens, 3},
		{"max tokens above default", sim.URL(), claudeID, 100, answerText(16), types.StopReasonEndTurn, 16},
		{"inference profile ARN", sim.URL(), profileARN, 2, "tok0 tok1", types.StopReasonMaxTokens, 2},
		{"path prefix", sim.URL() + "/m/claude", claudeID, 1, "tok0", types.StopReasonMaxTokens, 1},
		{"path prefix and ARN", sim.URL() + "/m/a/b", profileARN, 1, "tok0", types.StopReasonMaxTokens, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim.ResetStats()
			client := bedrockClient(tt.base, testRegion, testAKID, testSecret)
			out, err := client.Converse(testCtx(t), converseInput(tt.model, tt.maxTokens))
			if err != nil {
				t.Fatalf("Converse: %v", err)
			}
			msg, ok := out.Output.(*types.ConverseOutputMemberMessage)
			if !ok {
				t.Fatalf("output is %T, want message", out.Output)
			}
			text := msg.Value.Content[0].(*types.ContentBlockMemberText).Value
			st := sim.Stats()
			got := converseSummary{
				Role: msg.Value.Role, Text: text, Stop: out.StopReason,
				Usage:      [3]int32{aws.ToInt32(out.Usage.InputTokens), aws.ToInt32(out.Usage.OutputTokens), aws.ToInt32(out.Usage.TotalTokens)},
				HasLatency: out.Metrics != nil && out.Metrics.LatencyMs != nil,
				Requests:   st.Requests, Model: st.LastModelID,
				Served: [2]int64{st.InputTokens, st.OutputTokens},
			}
			want := converseSummary{
				Role: types.ConversationRoleAssistant, Text: tt.wantText, Stop: tt.wantStop,
				Usage:      [3]int32{5, tt.wantOut, 5 + tt.wantOut},
				HasLatency: true,
				Requests:   map[string]int64{RouteBedrockConverse: 1}, Model: tt.model,
				Served: [2]int64{5, int64(tt.wantOut)},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Converse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBedrockConverseStream(t *testing.T) {
	sim := startSim(t, signedOpts())
	tests := []struct {
		name      string
		base      string
		maxTokens int32
		wantOut   int32
		wantStop  types.StopReason
	}{
		{"full answer", sim.URL(), 0, 16, types.StopReasonEndTurn},
		{"limited", sim.URL(), 4, 4, types.StopReasonMaxTokens},
		{"path prefix", sim.URL() + "/m/claude", 2, 2, types.StopReasonMaxTokens},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim.ResetStats()
			client := bedrockClient(tt.base, testRegion, testAKID, testSecret)
			in := converseInput(claudeID, tt.maxTokens)
			out, err := client.ConverseStream(testCtx(t), &bedrockruntime.ConverseStreamInput{
				ModelId: in.ModelId, Messages: in.Messages, System: in.System, InferenceConfig: in.InferenceConfig,
			})
			if err != nil {
				t.Fatalf("ConverseStream: %v", err)
			}
			stream := out.GetStream()
			defer stream.Close()
			var (
				kinds []string
				text  strings.Builder
				stop  types.StopReason
				usage types.TokenUsage
			)
			for ev := range stream.Events() {
				switch v := ev.(type) {
				case *types.ConverseStreamOutputMemberMessageStart:
					kinds = append(kinds, "messageStart:"+string(v.Value.Role))
				case *types.ConverseStreamOutputMemberContentBlockDelta:
					text.WriteString(v.Value.Delta.(*types.ContentBlockDeltaMemberText).Value)
					if len(kinds) == 0 || kinds[len(kinds)-1] != "delta" {
						kinds = append(kinds, "delta")
					}
				case *types.ConverseStreamOutputMemberContentBlockStop:
					kinds = append(kinds, "contentBlockStop")
				case *types.ConverseStreamOutputMemberMessageStop:
					kinds = append(kinds, "messageStop")
					stop = v.Value.StopReason
				case *types.ConverseStreamOutputMemberMetadata:
					kinds = append(kinds, "metadata")
					usage = *v.Value.Usage
					if v.Value.Metrics == nil || v.Value.Metrics.LatencyMs == nil {
						t.Error("metadata event has no latency metric")
					}
				default:
					t.Errorf("unexpected event %T", ev)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream error: %v", err)
			}
			wantKinds := []string{"messageStart:assistant", "delta", "contentBlockStop", "messageStop", "metadata"}
			if diff := cmp.Diff(wantKinds, kinds); diff != "" {
				t.Errorf("event order (-want +got):\n%s", diff)
			}
			if got, want := text.String(), answerText(int(tt.wantOut)); got != want {
				t.Errorf("text = %q, want %q", got, want)
			}
			if stop != tt.wantStop {
				t.Errorf("stop reason = %q, want %q", stop, tt.wantStop)
			}
			gotUsage := [3]int32{aws.ToInt32(usage.InputTokens), aws.ToInt32(usage.OutputTokens), aws.ToInt32(usage.TotalTokens)}
			if want := [3]int32{5, tt.wantOut, 5 + tt.wantOut}; gotUsage != want {
				t.Errorf("usage = %v, want %v", gotUsage, want)
			}
			st := sim.Stats()
			if diff := cmp.Diff(map[string]int64{RouteBedrockConverseStream: 1}, st.Requests); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			if st.OutputTokens != int64(tt.wantOut) {
				t.Errorf("served output tokens = %d, want %d", st.OutputTokens, tt.wantOut)
			}
		})
	}
}

// anthropicBody is an InvokeModel body in the Anthropic messages format:
// 8 + 12 = 20 prompt bytes, 5 input tokens.
func anthropicBody(maxTokens int) []byte {
	b, _ := json.Marshal(map[string]any{
		"anthropic_version": "bedrock-2023-05-31",
		"max_tokens":        maxTokens,
		"system":            "be brief",
		"messages": []map[string]any{
			{"role": "user", "content": []map[string]string{{"type": "text", "text": "hello world!"}}},
		},
	})
	return b
}

func TestBedrockInvokeModel(t *testing.T) {
	sim := startSim(t, signedOpts())
	tests := []struct {
		name      string
		maxTokens int
		wantOut   int
		wantStop  string
	}{
		{"under the limit", 100, 16, "end_turn"},
		{"limited", 5, 5, "max_tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := bedrockClient(sim.URL(), testRegion, testAKID, testSecret)
			out, err := client.InvokeModel(testCtx(t), &bedrockruntime.InvokeModelInput{
				ModelId:     aws.String(profileARN),
				ContentType: aws.String("application/json"),
				Accept:      aws.String("application/json"),
				Body:        anthropicBody(tt.maxTokens),
			})
			if err != nil {
				t.Fatalf("InvokeModel: %v", err)
			}
			var body struct {
				Role       string `json:"role"`
				Model      string `json:"model"`
				StopReason string `json:"stop_reason"`
				Content    []struct {
					Type, Text string
				} `json:"content"`
				Usage struct {
					InputTokens  int `json:"input_tokens"`
					OutputTokens int `json:"output_tokens"`
				} `json:"usage"`
			}
			if err := json.Unmarshal(out.Body, &body); err != nil {
				t.Fatalf("answer is not JSON: %v", err)
			}
			raw, ok := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response)
			if !ok {
				t.Fatal("no raw response")
			}
			got := []string{
				body.Role, body.Model, body.StopReason, body.Content[0].Type, body.Content[0].Text,
				raw.Header.Get("X-Amzn-Bedrock-Input-Token-Count"),
				raw.Header.Get("X-Amzn-Bedrock-Output-Token-Count"),
			}
			want := []string{"assistant", profileARN, tt.wantStop, "text", answerText(tt.wantOut), "5", itoa(tt.wantOut)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("InvokeModel (-want +got):\n%s", diff)
			}
			if body.Usage.InputTokens != 5 || body.Usage.OutputTokens != tt.wantOut {
				t.Errorf("usage = %+v", body.Usage)
			}
			if raw.Header.Get("X-Amzn-Bedrock-Invocation-Latency") == "" {
				t.Error("no invocation latency header")
			}
		})
	}
}

func TestBedrockInvokeModelWithResponseStream(t *testing.T) {
	sim := startSim(t, signedOpts())
	client := bedrockClient(sim.URL()+"/m/claude", testRegion, testAKID, testSecret)
	out, err := client.InvokeModelWithResponseStream(testCtx(t), &bedrockruntime.InvokeModelWithResponseStreamInput{
		ModelId:     aws.String(claudeID),
		ContentType: aws.String("application/json"),
		Body:        anthropicBody(3),
	})
	if err != nil {
		t.Fatalf("InvokeModelWithResponseStream: %v", err)
	}
	stream := out.GetStream()
	defer stream.Close()
	var (
		chunkTypes []string
		text       strings.Builder
		metrics    map[string]int64
	)
	for ev := range stream.Events() {
		chunk, ok := ev.(*types.ResponseStreamMemberChunk)
		if !ok {
			t.Fatalf("unexpected event %T", ev)
		}
		var c struct {
			Type  string `json:"type"`
			Delta struct {
				Text string `json:"text"`
			} `json:"delta"`
			Metrics map[string]int64 `json:"amazon-bedrock-invocationMetrics"`
		}
		if err := json.Unmarshal(chunk.Value.Bytes, &c); err != nil {
			t.Fatalf("chunk is not JSON: %v", err)
		}
		chunkTypes = append(chunkTypes, c.Type)
		if c.Type == "content_block_delta" {
			text.WriteString(c.Delta.Text)
		}
		if c.Metrics != nil {
			metrics = c.Metrics
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream error: %v", err)
	}
	wantTypes := []string{"message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"}
	if diff := cmp.Diff(wantTypes, chunkTypes); diff != "" {
		t.Errorf("chunk types (-want +got):\n%s", diff)
	}
	if text.String() != "tok0 tok1 tok2" {
		t.Errorf("text = %q", text.String())
	}
	if metrics["inputTokenCount"] != 5 || metrics["outputTokenCount"] != 3 {
		t.Errorf("invocation metrics = %v", metrics)
	}
	for _, k := range []string{"invocationLatency", "firstByteLatency"} {
		if _, ok := metrics[k]; !ok {
			t.Errorf("invocation metrics lack %s", k)
		}
	}
	if got := sim.Stats().Requests[RouteBedrockInvokeStream]; got != 1 {
		t.Errorf("invoke-stream requests = %d, want 1", got)
	}
}

func TestBedrockSignature(t *testing.T) {
	sim := startSim(t, signedOpts())
	tests := []struct {
		name         string
		region, akid string
		secret       string
		wantCode     string // "" means success
	}{
		{"valid", testRegion, testAKID, testSecret, ""},
		{"wrong secret", testRegion, testAKID, "not-the-secret", "InvalidSignatureException"},
		{"unknown key id", testRegion, "AKIDOTHER", testSecret, "UnrecognizedClientException"},
		{"signed for another region", "us-west-2", testAKID, testSecret, "InvalidSignatureException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim.ResetStats()
			client := bedrockClient(sim.URL(), tt.region, tt.akid, tt.secret)
			_, err := client.Converse(testCtx(t), converseInput(profileARN, 1))
			wantFailures := int64(0)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("Converse: %v", err)
				}
			} else {
				wantFailures = 1
				var apiErr smithy.APIError
				if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.wantCode {
					t.Fatalf("error = %v, want API error %s", err, tt.wantCode)
				}
				var re *smithyhttp.ResponseError
				if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusForbidden {
					t.Errorf("status is not 403: %v", err)
				}
			}
			if got := sim.Stats().SignatureFailures; got != wantFailures {
				t.Errorf("SignatureFailures = %d, want %d", got, wantFailures)
			}
		})
	}

	t.Run("unsigned", func(t *testing.T) {
		status, hdr, _ := post(t, sim.URL()+"/model/x/converse", `{}`, nil)
		if status != http.StatusForbidden || hdr.Get("X-Amzn-Errortype") != "UnrecognizedClientException" {
			t.Errorf("unsigned request: status %d, error type %q", status, hdr.Get("X-Amzn-Errortype"))
		}
	})
	t.Run("scope checked without keys", func(t *testing.T) {
		open := startSim(t, Options{Region: "eu-west-1"})
		client := bedrockClient(open.URL(), testRegion, "any", "any")
		_, err := client.Converse(testCtx(t), converseInput(claudeID, 1))
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidSignatureException" {
			t.Errorf("error = %v, want InvalidSignatureException", err)
		}
		client = bedrockClient(open.URL(), "eu-west-1", "any", "any")
		if _, err := client.Converse(testCtx(t), converseInput(claudeID, 1)); err != nil {
			t.Errorf("right region, no key check: %v", err)
		}
	})
}

func TestBedrockFaults(t *testing.T) {
	sim := startSim(t, signedOpts())
	client := bedrockClient(sim.URL(), testRegion, testAKID, testSecret)
	converse := func(ctx context.Context) error {
		_, err := client.Converse(ctx, converseInput(claudeID, 1))
		return err
	}
	converseStream := func(ctx context.Context) error {
		in := converseInput(claudeID, 1)
		out, err := client.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: in.ModelId, Messages: in.Messages})
		if err != nil {
			return err
		}
		defer out.GetStream().Close()
		for range out.GetStream().Events() {
		}
		return out.GetStream().Err()
	}
	invoke := func(ctx context.Context) error {
		_, err := client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(claudeID), Body: anthropicBody(1)})
		return err
	}
	invokeStream := func(ctx context.Context) error {
		_, err := client.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: aws.String(claudeID), Body: anthropicBody(1)})
		return err
	}
	invokeStreamAll := func(ctx context.Context) error {
		out, err := client.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: aws.String(claudeID), Body: anthropicBody(3)})
		if err != nil {
			return err
		}
		defer out.GetStream().Close()
		for range out.GetStream().Events() {
		}
		return out.GetStream().Err()
	}
	isThrottling := func(err error) bool { var e *types.ThrottlingException; return errors.As(err, &e) }
	isInternal := func(err error) bool { var e *types.InternalServerException; return errors.As(err, &e) }
	isUnavailable := func(err error) bool { var e *types.ServiceUnavailableException; return errors.As(err, &e) }

	tests := []struct {
		name   string
		faults Faults
		call   func(context.Context) error
		want   func(error) bool
		status int
	}{
		{"converse throttled", Faults{ThrottleRate: 1, RetryAfter: 1500 * time.Millisecond}, converse, isThrottling, 429},
		{"converse-stream throttled before the stream", Faults{ThrottleRate: 1}, converseStream, isThrottling, 429},
		{"invoke throttled", Faults{ThrottleRate: 1}, invoke, isThrottling, 429},
		{"invoke-stream throttled", Faults{ThrottleRate: 1}, invokeStream, isThrottling, 429},
		{"converse error 500", Faults{ErrorRate: 1}, converse, isInternal, 500},
		{"converse error 503", Faults{ErrorRate: 1, ErrorStatus: 503}, converse, isUnavailable, 503},
		{"converse-stream in-stream throttle", Faults{StreamErrorAfterEvents: 1}, converseStream, isThrottling, 200},
		{"invoke-stream in-stream throttle", Faults{StreamErrorAfterEvents: 1}, invokeStreamAll, isThrottling, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim.SetFaults(tt.faults)
			defer sim.SetFaults(Faults{})
			err := tt.call(testCtx(t))
			if !tt.want(err) {
				t.Fatalf("error = %v (%T)", err, err)
			}
			var re *smithyhttp.ResponseError
			if tt.status != 200 {
				if !errors.As(err, &re) || re.HTTPStatusCode() != tt.status {
					t.Errorf("want HTTP %d: %v", tt.status, err)
				} else if tt.faults.RetryAfter > 0 && re.Response.Header.Get("Retry-After") != "2" {
					t.Errorf("Retry-After = %q, want 2 (1.5s rounded up)", re.Response.Header.Get("Retry-After"))
				}
			}
		})
	}
	st := sim.Stats()
	if st.Throttled != 4 || st.Errors != 2 || st.StreamErrors != 2 {
		t.Errorf("stats: throttled %d errors %d stream errors %d, want 4 2 2", st.Throttled, st.Errors, st.StreamErrors)
	}
}

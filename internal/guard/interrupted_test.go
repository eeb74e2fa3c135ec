package guard_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"
	"github.com/openai/openai-go/v3"

	"github.com/breakwater-dev/breakwater/test/upstreamsim"
)

// A stream the upstream cuts after the app has part of it must reach the app as an error: the SDKs
// read a clean end of an event stream or an SSE stream as a complete answer, so without the guard's
// closing error the app would take half an answer for a whole one.
func TestInterruptedStreamsEndWithAnErrorTheSDKReports(t *testing.T) {
	ctx := context.Background()
	cut := upstreamsim.Faults{ResetAfterEvents: 3}

	t.Run("bedrock ConverseStream", func(t *testing.T) {
		h := newHarness(t, nil)
		h.east.SetFaults(cut)
		out, err := h.bedrock().ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{
			ModelId:  aws.String("anything"),
			Messages: []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "hi"}}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		stream := out.GetStream()
		events := 0
		for range stream.Events() {
			events++
		}
		err = stream.Err()
		if events == 0 || err == nil || !strings.Contains(err.Error(), "interrupted") {
			t.Fatalf("after %d events: err = %v, want the guard's modelStreamErrorException", events, err)
		}
		var mse *types.ModelStreamErrorException
		if !errors.As(err, &mse) {
			t.Errorf("err is %T, want *types.ModelStreamErrorException: %v", err, err)
		}
	})

	t.Run("sagemaker InvokeEndpointWithResponseStream", func(t *testing.T) {
		h := newHarness(t, nil)
		h.east.SetFaults(cut)
		out, err := h.sagemaker().InvokeEndpointWithResponseStream(ctx, &sagemakerruntime.InvokeEndpointWithResponseStreamInput{
			EndpointName: aws.String("anything"), ContentType: aws.String("application/json"),
			Body: []byte(`{"messages":[{"role":"user","content":"hi"}],"stream":true}`),
		})
		if err != nil {
			t.Fatal(err)
		}
		stream := out.GetStream()
		for range stream.Events() {
		}
		if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "interrupted") {
			t.Fatalf("err = %v, want the guard's ModelStreamError", err)
		}
	})

	t.Run("openai chat stream", func(t *testing.T) {
		h := newHarness(t, nil)
		h.east.SetFaults(cut)
		client := h.openai()
		s := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:    "gpt-sim",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		})
		chunks := 0
		for s.Next() {
			chunks++
		}
		if err := s.Err(); chunks == 0 || err == nil || !strings.Contains(err.Error(), "interrupted") {
			t.Fatalf("after %d chunks: err = %v, want the guard's error event", chunks, err)
		}
	})
}

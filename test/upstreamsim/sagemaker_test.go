package upstreamsim

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-cmp/cmp"
)

// tgiBody is a TGI-style payload: 12 prompt bytes (3 tokens).
func tgiBody(maxNew int) []byte {
	b, _ := json.Marshal(map[string]any{"inputs": "hello world!", "parameters": map[string]int{"max_new_tokens": maxNew}})
	return b
}

type chatAnswer struct {
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *oaUsage `json:"usage"`
}

func TestSageMakerInvokeEndpoint(t *testing.T) {
	sim := startSim(t, signedOpts())
	tests := []struct {
		name       string
		base       string
		body       []byte
		wantText   string
		wantUsage  oaUsage
		wantFinish string
	}{
		{"tgi body", sim.URL(), tgiBody(2), "tok0 tok1", oaUsage{3, 2, 5}, "length"},
		{"openai body", sim.URL() + "/m/sm", []byte(`{"messages":[{"role":"user","content":"12345678"}]}`), answerText(16), oaUsage{2, 16, 18}, "stop"},
		{"csv body", sim.URL(), []byte("1,2,3,4,5"), answerText(16), oaUsage{3, 16, 19}, "stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim.ResetStats()
			client := sageMakerClient(tt.base, testSecret)
			out, err := client.InvokeEndpoint(testCtx(t), &sagemakerruntime.InvokeEndpointInput{
				EndpointName: aws.String("llm-endpoint"),
				ContentType:  aws.String("application/json"),
				Body:         tt.body,
			})
			if err != nil {
				t.Fatalf("InvokeEndpoint: %v", err)
			}
			var ans chatAnswer
			if err := json.Unmarshal(out.Body, &ans); err != nil {
				t.Fatalf("answer is not JSON: %v", err)
			}
			got := []any{ans.Model, ans.Choices[0].Message.Content, *ans.Usage, *ans.Choices[0].FinishReason, aws.ToString(out.InvokedProductionVariant), sim.Stats().LastModelID}
			want := []any{"llm-endpoint", tt.wantText, tt.wantUsage, tt.wantFinish, "AllTraffic", "llm-endpoint"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("InvokeEndpoint (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSageMakerInvokeEndpointWithResponseStream(t *testing.T) {
	sim := startSim(t, signedOpts())
	client := sageMakerClient(sim.URL()+"/m/sm", testSecret)
	out, err := client.InvokeEndpointWithResponseStream(testCtx(t), &sagemakerruntime.InvokeEndpointWithResponseStreamInput{
		EndpointName: aws.String("llm-endpoint"),
		ContentType:  aws.String("application/json"),
		Body:         tgiBody(3),
	})
	if err != nil {
		t.Fatalf("InvokeEndpointWithResponseStream: %v", err)
	}
	stream := out.GetStream()
	defer stream.Close()
	var raw strings.Builder
	parts := 0
	for ev := range stream.Events() {
		p, ok := ev.(*types.ResponseStreamMemberPayloadPart)
		if !ok {
			t.Fatalf("unexpected event %T", ev)
		}
		parts++
		raw.Write(p.Value.Bytes)
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream error: %v", err)
	}
	var (
		text  strings.Builder
		usage *oaUsage
		done  bool
	)
	for _, line := range strings.Split(raw.String(), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		var c chatAnswer
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("SSE data is not JSON: %v", err)
		}
		for _, ch := range c.Choices {
			text.WriteString(ch.Delta.Content)
		}
		if c.Usage != nil {
			usage = c.Usage
		}
	}
	// 3 tokens, a finish chunk, a usage chunk and [DONE], one part each.
	if parts != 6 || text.String() != "tok0 tok1 tok2" || !done || usage == nil || *usage != (oaUsage{3, 3, 6}) {
		t.Errorf("parts %d, text %q, done %v, usage %+v", parts, text.String(), done, usage)
	}
	if got := sim.Stats().Requests[RouteSageMakerInvokeStream]; got != 1 {
		t.Errorf("invoke-stream requests = %d, want 1", got)
	}
}

func TestSageMakerFaultsAndSignature(t *testing.T) {
	sim := startSim(t, signedOpts())
	invoke := func(t *testing.T, c *sagemakerruntime.Client) error {
		_, err := c.InvokeEndpoint(testCtx(t), &sagemakerruntime.InvokeEndpointInput{EndpointName: aws.String("e"), Body: tgiBody(1)})
		return err
	}
	tests := []struct {
		name     string
		faults   Faults
		secret   string
		wantCode string
		status   int
	}{
		{"throttled", Faults{ThrottleRate: 1}, testSecret, "ThrottlingException", 429},
		{"internal failure", Faults{ErrorRate: 1}, testSecret, "InternalFailure", 500},
		{"unavailable", Faults{ErrorRate: 1, ErrorStatus: 503}, testSecret, "ServiceUnavailable", 503},
		{"wrong secret", Faults{}, "nope", "InvalidSignatureException", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim.SetFaults(tt.faults)
			defer sim.SetFaults(Faults{})
			err := invoke(t, sageMakerClient(sim.URL(), tt.secret))
			var apiErr smithy.APIError
			var re *smithyhttp.ResponseError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.wantCode || !errors.As(err, &re) || re.HTTPStatusCode() != tt.status {
				t.Fatalf("error = %v, want %s with HTTP %d", err, tt.wantCode, tt.status)
			}
		})
	}
	t.Run("bedrock-signed request refused", func(t *testing.T) {
		// A request signed for service "bedrock" must not pass as SageMaker.
		status, hdr, _ := post(t, sim.URL()+"/endpoints/e/invocations", `{}`, map[string]string{
			"Authorization": "AWS4-HMAC-SHA256 Credential=" + testAKID + "/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=00",
		})
		if status != 403 || hdr.Get("X-Amzn-Errortype") != "InvalidSignatureException" {
			t.Errorf("status %d, type %q", status, hdr.Get("X-Amzn-Errortype"))
		}
	})
}

func TestSageMakerInStreamError(t *testing.T) {
	sim := startSim(t, signedOpts())
	sim.SetFaults(Faults{StreamErrorAfterEvents: 2})
	client := sageMakerClient(sim.URL(), testSecret)
	out, err := client.InvokeEndpointWithResponseStream(testCtx(t), &sagemakerruntime.InvokeEndpointWithResponseStreamInput{
		EndpointName: aws.String("e"), Body: tgiBody(0),
	})
	if err != nil {
		t.Fatalf("InvokeEndpointWithResponseStream: %v", err)
	}
	stream := out.GetStream()
	defer stream.Close()
	parts := 0
	for range stream.Events() {
		parts++
	}
	var mse *types.ModelStreamError
	if parts != 2 || !errors.As(stream.Err(), &mse) {
		t.Errorf("parts %d, error %v (%T); want 2 parts then ModelStreamError", parts, stream.Err(), stream.Err())
	}
}

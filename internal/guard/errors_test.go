package guard_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"

	"github.com/breakwater-dev/breakwater/internal/guard"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
)

// TestSDKsParseGuardErrors checks that each SDK turns a guard-made error into its own typed error.
func TestSDKsParseGuardErrors(t *testing.T) {
	h := newHarness(t, func(c *guardconfig.Config) {
		c.Workload.Criticality = guardconfig.Sheddable
		c.Quota.State = guardconfig.QuotaShedding
	})
	ctx := context.Background()
	type result struct {
		Status int
		Code   string
	}
	awsResult := func(err error) result {
		var api smithy.APIError
		var resp *awshttp.ResponseError
		if !errors.As(err, &api) || !errors.As(err, &resp) {
			t.Fatalf("not an AWS API error: %v", err)
		}
		return result{resp.HTTPStatusCode(), api.ErrorCode()}
	}

	_, err := h.bedrock().Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String("m"), Messages: userMessage()})
	if diff := cmp.Diff(result{429, "ThrottlingException"}, awsResult(err)); diff != "" {
		t.Errorf("Bedrock error (-want +got):\n%s", diff)
	}
	_, err = h.sagemaker().InvokeEndpoint(ctx, &sagemakerruntime.InvokeEndpointInput{EndpointName: aws.String("e"), Body: []byte(`{}`)})
	if diff := cmp.Diff(result{429, "ThrottlingException"}, awsResult(err)); diff != "" {
		t.Errorf("SageMaker error (-want +got):\n%s", diff)
	}
	client := h.openai()
	_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var oe *openai.Error
	if !errors.As(err, &oe) {
		t.Fatalf("not an OpenAI error: %v", err)
	}
	if diff := cmp.Diff(result{429, guard.ReasonQuotaShed}, result{oe.StatusCode, oe.Code}); diff != "" {
		t.Errorf("OpenAI error (-want +got):\n%s", diff)
	}
	if got := h.value(h.m.RejectionsTotal.WithLabelValues("claude", guard.ReasonQuotaShed)); got != 1 {
		t.Errorf("rejections_total{claude,quota_shed} = %g, want 1", got)
	}
}

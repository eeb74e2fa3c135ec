package awsfake_test

import (
	"context"
	"errors"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrock/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/breakwater-dev/breakwater/internal/aws/awsfake"
)

func start(t *testing.T) (*awsfake.Server, awssdk.Config) {
	t.Helper()
	f := awsfake.New(awsfake.Options{AccessKeyID: "AKIDFAKE", SecretAccessKey: "secret", Regions: []string{"us-east-1"}})
	t.Cleanup(f.Close)
	return f, awssdk.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDFAKE", "secret", ""),
		RetryMaxAttempts: 1,
	}
}

func TestListFoundationModelsFilters(t *testing.T) {
	f, cfg := start(t)
	f.SetFoundationModels("us-east-1",
		awsfake.FoundationModel{ID: "a.text-v1", Provider: "A", OutputModalities: []string{"TEXT"}, InferenceTypes: []string{"ON_DEMAND"}},
		awsfake.FoundationModel{ID: "b.embed-v1", Provider: "B", OutputModalities: []string{"EMBEDDING"}, InferenceTypes: []string{"ON_DEMAND"}},
		awsfake.FoundationModel{ID: "a.text-v2", Provider: "A", OutputModalities: []string{"TEXT"}, InferenceTypes: []string{"PROVISIONED"}},
	)
	c := bedrock.NewFromConfig(cfg, func(o *bedrock.Options) { o.BaseEndpoint = awssdk.String(f.URL()) })
	tests := []struct {
		name string
		in   bedrock.ListFoundationModelsInput
		want []string
	}{
		{"unfiltered", bedrock.ListFoundationModelsInput{}, []string{"a.text-v1", "b.embed-v1", "a.text-v2"}},
		{"TEXT output", bedrock.ListFoundationModelsInput{ByOutputModality: brtypes.ModelModalityText}, []string{"a.text-v1", "a.text-v2"}},
		{"on demand", bedrock.ListFoundationModelsInput{ByInferenceType: brtypes.InferenceTypeOnDemand}, []string{"a.text-v1", "b.embed-v1"}},
		{"provider", bedrock.ListFoundationModelsInput{ByProvider: awssdk.String("B")}, []string{"b.embed-v1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.ListFoundationModels(context.Background(), &tt.in)
			if err != nil {
				t.Fatalf("ListFoundationModels: %v", err)
			}
			var got []string
			for _, m := range out.ModelSummaries {
				got = append(got, awssdk.ToString(m.ModelId))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("models (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCloudWatchErrorsInCBOR(t *testing.T) {
	f, cfg := start(t)
	c := cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) { o.BaseEndpoint = awssdk.String(f.URL()) })
	now := time.Now()
	query := func(id string) *cloudwatch.GetMetricDataInput {
		return &cloudwatch.GetMetricDataInput{
			StartTime: awssdk.Time(now.Add(-time.Hour)), EndTime: awssdk.Time(now),
			MetricDataQueries: []cwtypes.MetricDataQuery{{Id: awssdk.String(id), MetricStat: &cwtypes.MetricStat{
				Metric: &cwtypes.Metric{Namespace: awssdk.String("AWS/Bedrock"), MetricName: awssdk.String("Invocations")},
				Period: awssdk.Int32(60), Stat: awssdk.String("Sum"),
			}}},
		}
	}
	tests := []struct {
		name     string
		in       *cloudwatch.GetMetricDataInput
		wantCode string
	}{
		// The modelled error is decoded into its own type, with the
		// awsQuery code CloudWatch sends alongside.
		{"invalid query id", query("Upper"), "InvalidParameterValue"},
		{"invalid next token", func() *cloudwatch.GetMetricDataInput {
			in := query("ok")
			in.NextToken = awssdk.String("bogus")
			return in
		}(), "InvalidNextToken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.GetMetricData(context.Background(), tt.in)
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.wantCode {
				t.Fatalf("error = %v, want API error %s", err, tt.wantCode)
			}
		})
	}
	t.Run("modelled type", func(t *testing.T) {
		_, err := c.GetMetricData(context.Background(), query("Upper"))
		var typed *cwtypes.InvalidParameterValueException
		if !errors.As(err, &typed) {
			t.Errorf("error = %T %v, want *types.InvalidParameterValueException", err, err)
		}
	})
}

func TestLatencyHonoursClientDeadline(t *testing.T) {
	f, cfg := start(t)
	f.SetLatency(time.Hour)
	c := bedrock.NewFromConfig(cfg, func(o *bedrock.Options) { o.BaseEndpoint = awssdk.String(f.URL()) })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.ListFoundationModels(ctx, &bedrock.ListFoundationModelsInput{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want the client's deadline", err)
	}
	if n := f.Calls(awsfake.OpListFoundationModels, "us-east-1"); n != 1 {
		t.Errorf("calls = %d, want 1", n)
	}
}

func TestWrongSigningServiceIsRefused(t *testing.T) {
	f, cfg := start(t)
	// A Bedrock request signed as if for another service must be refused,
	// as AWS refuses a credential scoped to the wrong service.
	c := bedrock.NewFromConfig(cfg, func(o *bedrock.Options) { o.BaseEndpoint = awssdk.String(f.URL()) }, bedrock.WithSigV4SigningName("monitoring"))
	_, err := c.ListFoundationModels(context.Background(), &bedrock.ListFoundationModelsInput{})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidSignatureException" {
		t.Fatalf("error = %v, want InvalidSignatureException", err)
	}
	if f.SignatureFailures() != 1 || f.Calls(awsfake.OpListFoundationModels, "us-east-1") != 0 {
		t.Errorf("signature failures = %d, calls = %d; want 1 and 0", f.SignatureFailures(), f.Calls(awsfake.OpListFoundationModels, "us-east-1"))
	}
}

package aws

import (
	"context"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"

	"github.com/breakwater-dev/breakwater/internal/aws/awsfake"
)

func TestClientFactoryFor(t *testing.T) {
	f := NewClientFactory(awssdk.Config{Region: "us-east-1"}, Endpoints{Bedrock: "https://vpce-123.bedrock.us-east-1.vpce.amazonaws.com"})
	if _, err := f.For(""); err == nil {
		t.Error("For(\"\") succeeded, want an error: a client without a region signs for nothing")
	}
	a, err := f.For("us-west-2")
	if err != nil {
		t.Fatalf("For: %v", err)
	}
	b, _ := f.For("us-west-2")
	if a != b {
		t.Error("For built a second set of clients for the same region")
	}
	if got := a.Bedrock.Options().Region; got != "us-west-2" {
		t.Errorf("bedrock client region = %q, want us-west-2", got)
	}
	if got := awssdk.ToString(a.Bedrock.Options().BaseEndpoint); got != "https://vpce-123.bedrock.us-east-1.vpce.amazonaws.com" {
		t.Errorf("bedrock BaseEndpoint = %q, want the override", got)
	}
	if a.CloudWatch.Options().BaseEndpoint != nil || a.ServiceQuotas.Options().BaseEndpoint != nil {
		t.Error("services without an override got a BaseEndpoint")
	}
}

// TestSDKRetriesFakeThrottles: the SDK's own retryer recognises each
// fake's throttling reply as a throttle and retries it, which is the
// evidence the error shapes match what the SDK expects from AWS.
func TestSDKRetriesFakeThrottles(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 5, 30, 0, time.UTC)
	tests := []struct {
		op   string
		call func(context.Context, *ClientFactory) error
	}{
		{awsfake.OpGetServiceQuota, func(ctx context.Context, f *ClientFactory) error {
			_, err := NewServiceQuotas(f, QuotaOptions{}).TokensPerMinute(ctx, "us-east-1", svcBedrock, quotaSonnet, 0)
			return err
		}},
		{awsfake.OpGetMetricData, func(ctx context.Context, f *ClientFactory) error {
			_, err := NewCloudWatchMetrics(f).Usage(ctx, "us-east-1", []string{modelSonnet}, 5*time.Minute, now)
			return err
		}},
		{awsfake.OpListFoundationModels, func(ctx context.Context, f *ClientFactory) error {
			_, err := NewBedrockCatalog(f, CatalogOptions{}).Serves(ctx, "us-east-1", modelSonnet)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			fake := newFake(t)
			fake.SetAppliedQuota("us-east-1", svcBedrock, quotaSonnet, 1)
			seedCatalogue(fake)
			fake.ThrottleNext(tt.op, 2)
			if err := tt.call(context.Background(), newFactory(t, fake, withInstantRetries(3))); err != nil {
				t.Fatalf("call after two throttles with three attempts: %v", err)
			}
			if n := fake.Calls(tt.op, "us-east-1"); n != 3 {
				t.Errorf("%s calls = %d, want 3 (two throttled, one served)", tt.op, n)
			}
		})
	}
}

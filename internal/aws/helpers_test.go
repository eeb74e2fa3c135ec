package aws

import (
	"context"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/breakwater-dev/breakwater/internal/aws/awsfake"
)

const (
	testAccessKeyID = "AKIDBREAKWATERTEST"
	testSecret      = "breakwater-test-secret"
)

var testRegions = []string{"us-east-1", "us-west-2", "eu-west-1"}

// newFake starts a fake that accepts only the test credentials, in the test regions.
func newFake(t *testing.T) *awsfake.Server {
	t.Helper()
	fake := awsfake.New(awsfake.Options{AccessKeyID: testAccessKeyID, SecretAccessKey: testSecret, Regions: testRegions})
	t.Cleanup(fake.Close)
	return fake
}

// newFactory builds real SDK clients pointed at the fake through the same
// LoadDefaultConfig path production uses. Shared config files are ignored
// so a developer's ~/.aws cannot change the outcome. SDK retries are off
// unless a test passes its own retryer, so one injected throttle is one
// failed call.
func newFactory(t *testing.T, fake *awsfake.Server, opts ...func(*config.LoadOptions) error) *ClientFactory {
	t.Helper()
	// Environment that LoadDefaultConfig reads and that explicit options
	// do not override (an unknown AWS_PROFILE fails loading outright).
	for _, name := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CA_BUNDLE"} {
		t.Setenv(name, "")
	}
	base := []func(*config.LoadOptions) error{
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(testAccessKeyID, testSecret, "")),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
		config.WithRetryMaxAttempts(1),
	}
	f, err := LoadClientFactory(context.Background(), Endpoints{
		ServiceQuotas: fake.URL(),
		CloudWatch:    fake.URL(),
		Bedrock:       fake.URL(),
	}, append(base, opts...)...)
	if err != nil {
		t.Fatalf("LoadClientFactory: %v", err)
	}
	return f
}

// withInstantRetries keeps the SDK's standard retryer, and so its own
// judgement of what is retryable, but without waiting between attempts.
func withInstantRetries(attempts int) func(*config.LoadOptions) error {
	return config.WithRetryer(func() awssdk.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	})
}

// newClock is a settable clock for cache expiry.
func newClock() *clocktesting.FakeClock {
	return clocktesting.NewFakeClock(time.Date(2026, 11, 24, 12, 0, 30, 0, time.UTC))
}

func withStaticCredentials(id, secret string) func(*config.LoadOptions) error {
	return config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, secret, ""))
}

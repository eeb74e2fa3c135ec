package aws

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/breakwater-dev/breakwater/internal/aws/awsfake"
)

const (
	svcBedrock  = "bedrock"
	quotaSonnet = "L-A50569E5"
)

func TestTokensPerMinute(t *testing.T) {
	clock := newClock()
	tests := []struct {
		name        string
		region      string
		applied     *float64
		def         *float64
		want        Quota
		wantErr     error
		wantApplied int // GetServiceQuota calls
		wantDefault int // GetAWSDefaultServiceQuota calls
	}{
		{
			name: "applied value wins", region: "us-east-1", applied: ptr(2_000_000.0), def: ptr(400_000.0),
			want:        Quota{Region: "us-east-1", ServiceCode: svcBedrock, QuotaCode: quotaSonnet, Name: "Tokens per minute (" + quotaSonnet + ")", Value: 2_000_000, Source: QuotaApplied, FetchedAt: clock.Now()},
			wantApplied: 1,
		},
		{
			name: "no applied value falls back to the AWS default", region: "us-west-2", def: ptr(400_000.0),
			want:        Quota{Region: "us-west-2", ServiceCode: svcBedrock, QuotaCode: quotaSonnet, Name: "Tokens per minute (" + quotaSonnet + ")", Value: 400_000, Source: QuotaDefault, FetchedAt: clock.Now()},
			wantApplied: 1, wantDefault: 1,
		},
		{
			name: "neither value is not found", region: "eu-west-1",
			wantErr: ErrNotFound, wantApplied: 1, wantDefault: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t)
			if tt.applied != nil {
				fake.SetAppliedQuota(tt.region, svcBedrock, quotaSonnet, *tt.applied)
			}
			if tt.def != nil {
				fake.SetDefaultQuota(tt.region, svcBedrock, quotaSonnet, *tt.def)
			}
			// Another region's value must not leak in: the fake picks data
			// by the region in the request's SigV4 scope.
			fake.SetAppliedQuota("ap-south-1", svcBedrock, quotaSonnet, 1)

			r := NewServiceQuotas(newFactory(t, fake), QuotaOptions{Now: clock.Now})
			got, err := r.TokensPerMinute(context.Background(), tt.region, svcBedrock, quotaSonnet, 0)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("quota (-want +got):\n%s", diff)
			}
			if n := fake.Calls(awsfake.OpGetServiceQuota, tt.region); n != tt.wantApplied {
				t.Errorf("GetServiceQuota calls = %d, want %d", n, tt.wantApplied)
			}
			if n := fake.Calls(awsfake.OpGetAWSDefaultServiceQuota, tt.region); n != tt.wantDefault {
				t.Errorf("GetAWSDefaultServiceQuota calls = %d, want %d", n, tt.wantDefault)
			}
		})
	}
}

func TestTokensPerMinuteCachesUntilRefresh(t *testing.T) {
	fake := newFake(t)
	fake.SetAppliedQuota("us-east-1", svcBedrock, quotaSonnet, 1000)
	clock := newClock()
	r := NewServiceQuotas(newFactory(t, fake), QuotaOptions{Refresh: 10 * time.Minute, Now: clock.Now})
	ctx := context.Background()

	read := func() Quota {
		t.Helper()
		q, err := r.TokensPerMinute(ctx, "us-east-1", svcBedrock, quotaSonnet, 0)
		if err != nil {
			t.Fatalf("TokensPerMinute: %v", err)
		}
		return q
	}
	first := read()
	fake.SetAppliedQuota("us-east-1", svcBedrock, quotaSonnet, 5000) // a quota increase lands
	clock.Step(9 * time.Minute)
	if got := read(); got.Value != 1000 || got.FetchedAt != first.FetchedAt {
		t.Errorf("within the refresh interval got %+v, want the cached %+v", got, first)
	}
	if n := fake.Calls(awsfake.OpGetServiceQuota, "us-east-1"); n != 1 {
		t.Errorf("GetServiceQuota calls within the refresh interval = %d, want 1", n)
	}

	clock.Step(time.Minute)
	if got := read(); got.Value != 5000 || !got.FetchedAt.Equal(clock.Now()) {
		t.Errorf("after the refresh interval got %+v, want value 5000 fetched now", got)
	}
	if n := fake.Calls(awsfake.OpGetServiceQuota, "us-east-1"); n != 2 {
		t.Errorf("GetServiceQuota calls after the refresh interval = %d, want 2", n)
	}
}

// TestTokensPerMinuteHonoursTheCallersRefresh: a TokenQuota's refreshInterval, passed per call,
// replaces the reader's default in both directions.
func TestTokensPerMinuteHonoursTheCallersRefresh(t *testing.T) {
	fake := newFake(t)
	fake.SetAppliedQuota("us-east-1", svcBedrock, quotaSonnet, 1000)
	clock := newClock()
	r := NewServiceQuotas(newFactory(t, fake), QuotaOptions{Refresh: 15 * time.Minute, Now: clock.Now})
	ctx := context.Background()
	calls := func() int { return fake.Calls(awsfake.OpGetServiceQuota, "us-east-1") }
	read := func(refresh time.Duration) Quota {
		t.Helper()
		q, err := r.TokensPerMinute(ctx, "us-east-1", svcBedrock, quotaSonnet, refresh)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	read(time.Hour)
	fake.SetAppliedQuota("us-east-1", svcBedrock, quotaSonnet, 5000)
	clock.Step(30 * time.Minute) // past the reader's default, inside the caller's hour
	if got := read(time.Hour); got.Value != 1000 || calls() != 1 {
		t.Errorf("within a 1h refresh after 30m: value %v after %d calls, want the cached 1000 after 1", got.Value, calls())
	}
	clock.Step(31 * time.Minute)
	if got := read(time.Hour); got.Value != 5000 || calls() != 2 {
		t.Errorf("after a 1h refresh: value %v after %d calls, want 5000 after 2", got.Value, calls())
	}
	fake.SetAppliedQuota("us-east-1", svcBedrock, quotaSonnet, 7000)
	clock.Step(2 * time.Minute) // inside the reader's default, past the caller's minute
	if got := read(time.Minute); got.Value != 7000 || calls() != 3 {
		t.Errorf("after a 1m refresh: value %v after %d calls, want 7000 after 3", got.Value, calls())
	}
}

func TestTokensPerMinuteServesStaleWhenThrottled(t *testing.T) {
	fake := newFake(t)
	fake.SetDefaultQuota("us-east-1", svcBedrock, quotaSonnet, 400_000)
	clock := newClock()
	r := NewServiceQuotas(newFactory(t, fake), QuotaOptions{Refresh: 10 * time.Minute, RetryAfterFailure: 30 * time.Second, Now: clock.Now})
	ctx := context.Background()
	read := func() (Quota, error) { return r.TokensPerMinute(ctx, "us-east-1", svcBedrock, quotaSonnet, 0) }
	calls := func() int { return fake.Calls(awsfake.OpGetServiceQuota, "us-east-1") }

	good, err := read()
	if err != nil {
		t.Fatalf("first read: %v", err)
	}
	clock.Step(11 * time.Minute)
	fake.ThrottleNext(awsfake.OpGetServiceQuota, 1)
	want := good
	want.Stale = true

	got, err := read()
	if !errors.Is(err, ErrThrottled) || !IsRetryable(err) {
		t.Fatalf("error = %v, want a retryable ErrThrottled", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stale quota (-want +got):\n%s", diff)
	}
	throttledCalls := calls()

	// Within RetryAfterFailure the failure is remembered, not retried.
	clock.Step(29 * time.Second)
	got, err = read()
	if !errors.Is(err, ErrThrottled) || calls() != throttledCalls {
		t.Errorf("within RetryAfterFailure: err %v, calls %d; want the remembered ErrThrottled and %d calls", err, calls(), throttledCalls)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("remembered stale quota (-want +got):\n%s", diff)
	}

	// After it, AWS is asked again and the value is fresh.
	clock.Step(time.Second)
	got, err = read()
	if err != nil || got.Stale || !got.FetchedAt.Equal(clock.Now()) || calls() != throttledCalls+1 {
		t.Errorf("after RetryAfterFailure: quota %+v, err %v, calls %d; want fresh after one more call", got, err, calls())
	}
}

func TestTokensPerMinuteErrors(t *testing.T) {
	tests := []struct {
		name          string
		setup         func(*awsfake.Server)
		wantKind      error
		wantRetryable bool
		wantCode      string
		wantOp        string
	}{
		{
			name:     "access denied on the applied value",
			setup:    func(f *awsfake.Server) { f.DenyAccess(awsfake.OpGetServiceQuota, true) },
			wantKind: ErrAccessDenied, wantCode: "AccessDeniedException", wantOp: "servicequotas:GetServiceQuota",
		},
		{
			name: "access denied on the default value",
			setup: func(f *awsfake.Server) {
				f.SetDefaultQuota("us-east-1", svcBedrock, quotaSonnet, 1)
				f.DenyAccess(awsfake.OpGetAWSDefaultServiceQuota, true)
			},
			wantKind: ErrAccessDenied, wantCode: "AccessDeniedException", wantOp: "servicequotas:GetAWSDefaultServiceQuota",
		},
		{
			name:     "throttled with nothing cached",
			setup:    func(f *awsfake.Server) { f.ThrottleNext(awsfake.OpGetServiceQuota, 1) },
			wantKind: ErrThrottled, wantRetryable: true, wantCode: "TooManyRequestsException", wantOp: "servicequotas:GetServiceQuota",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t)
			tt.setup(fake)
			r := NewServiceQuotas(newFactory(t, fake), QuotaOptions{})
			got, err := r.TokensPerMinute(context.Background(), "us-east-1", svcBedrock, quotaSonnet, 0)
			if diff := cmp.Diff(Quota{}, got); diff != "" {
				t.Errorf("with nothing cached the quota must be empty (-want +got):\n%s", diff)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error = %v, want *Error", err)
			}
			if !errors.Is(err, tt.wantKind) || e.Code != tt.wantCode || e.Op != tt.wantOp || IsRetryable(err) != tt.wantRetryable {
				t.Errorf("error = %#v, want kind %v, code %s, op %s, retryable %v", e, tt.wantKind, tt.wantCode, tt.wantOp, tt.wantRetryable)
			}
			for _, part := range []string{tt.wantOp, "us-east-1", "quota bedrock/" + quotaSonnet, tt.wantCode} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not name %q", err, part)
				}
			}
		})
	}
}

// TestSigV4IsChecked shows the fake really verifies signatures: the wrong
// secret and a region outside the fake's set are refused, as AWS would.
func TestSigV4IsChecked(t *testing.T) {
	tests := []struct {
		name   string
		region string
		secret string
	}{
		{name: "wrong secret", region: "us-east-1", secret: "not-the-secret"},
		{name: "region the fake does not serve", region: "ap-south-1", secret: testSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t)
			fake.SetAppliedQuota(tt.region, svcBedrock, quotaSonnet, 1)
			f := newFactory(t, fake, withStaticCredentials(testAccessKeyID, tt.secret))
			_, err := NewServiceQuotas(f, QuotaOptions{}).TokensPerMinute(context.Background(), tt.region, svcBedrock, quotaSonnet, 0)
			if !errors.Is(err, ErrAccessDenied) {
				t.Fatalf("error = %v, want ErrAccessDenied", err)
			}
			if fake.SignatureFailures() != 1 {
				t.Errorf("signature failures = %d, want 1", fake.SignatureFailures())
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

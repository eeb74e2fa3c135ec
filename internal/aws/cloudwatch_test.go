package aws

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/breakwater-dev/breakwater/internal/aws/awsfake"
)

const (
	modelSonnet = "anthropic.claude-3-5-sonnet-20240620-v1:0"
	modelTitan  = "amazon.titan-embed-text-v2:0"
)

// minutes returns one datapoint per minute starting at start, with the given values.
func minutes(start time.Time, values ...float64) []awsfake.Datapoint {
	pts := make([]awsfake.Datapoint, len(values))
	for i, v := range values {
		pts[i] = awsfake.Datapoint{Time: start.Add(time.Duration(i) * time.Minute), Value: v}
	}
	return pts
}

func TestUsage(t *testing.T) {
	// now is 12:05:30; a 5 minute window is [12:00, 12:05).
	now := time.Date(2026, 11, 24, 12, 5, 30, 0, time.UTC)
	start, end := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), time.Date(2026, 11, 24, 12, 5, 0, 0, time.UTC)

	seed := func(f *awsfake.Server) {
		r := "us-east-1"
		// Outside the window: one minute before it, and the minute still in progress.
		f.SetDatapoints(r, modelSonnet, MetricInputTokenCount, "Sum",
			append(minutes(start.Add(-time.Minute), 999_999), append(minutes(start, 100, 200, 300, 400, 500), minutes(end, 999_999)...)...)...)
		f.SetDatapoints(r, modelSonnet, MetricOutputTokenCount, "Sum", minutes(start, 10, 20, 30, 40, 50)...)
		f.SetDatapoints(r, modelSonnet, MetricInvocations, "Sum", minutes(start, 1, 2, 3, 4, 5)...)
		f.SetDatapoints(r, modelSonnet, MetricInvocationThrottles, "Sum", minutes(start, 0, 0, 1, 0, 0)...)
		f.SetDatapoints(r, modelSonnet, MetricInvocationLatency, "p99", minutes(start, 800, 1200.5, 950, 700, 900)...)
		// Sums exist under other statistics too; only p99 is asked for.
		f.SetDatapoints(r, modelSonnet, MetricInvocationLatency, "Maximum", minutes(start, 99_999)...)
		// The embedding model was called but never throttled and has no
		// output tokens: those metrics have no datapoints at all.
		f.SetDatapoints(r, modelTitan, MetricInputTokenCount, "Sum", minutes(start.Add(3*time.Minute), 70, 30)...)
		f.SetDatapoints(r, modelTitan, MetricInvocations, "Sum", minutes(start.Add(3*time.Minute), 7, 3)...)
		// Another region's data must not leak in.
		f.SetDatapoints("us-west-2", modelSonnet, MetricInvocations, "Sum", minutes(start, 1000)...)
	}
	want := map[string]ModelUsage{
		modelSonnet: {
			Region: "us-east-1", ModelID: modelSonnet, Start: start, End: end,
			InvocationThrottles: ptr(1.0), InputTokenCount: ptr(1500.0), OutputTokenCount: ptr(150.0), Invocations: ptr(15.0),
			InvocationLatencyP99: ptr(1200*time.Millisecond + 500*time.Microsecond),
		},
		modelTitan: {
			Region: "us-east-1", ModelID: modelTitan, Start: start, End: end,
			InputTokenCount: ptr(100.0), Invocations: ptr(10.0),
			Missing: []string{MetricInvocationThrottles, MetricOutputTokenCount, MetricInvocationLatency},
		},
		"unused.model-v1": {
			Region: "us-east-1", ModelID: "unused.model-v1", Start: start, End: end,
			Missing: []string{MetricInvocationThrottles, MetricInputTokenCount, MetricOutputTokenCount, MetricInvocations, MetricInvocationLatency},
		},
	}

	// Paging must not change the answer, only the number of calls.
	tests := []struct {
		name      string
		pageSize  int
		wantCalls int
	}{
		{name: "one page", pageSize: 1000, wantCalls: 1},
		{name: "pages of 7 datapoints", pageSize: 7, wantCalls: 5}, // 29 datapoints in the window
		{name: "pages of 1 datapoint", pageSize: 1, wantCalls: 29},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t)
			seed(fake)
			fake.SetMetricPageSize(tt.pageSize)
			m := NewCloudWatchMetrics(newFactory(t, fake))
			got, err := m.Usage(context.Background(), "us-east-1", []string{modelSonnet, modelTitan, "unused.model-v1", modelSonnet}, 5*time.Minute, now)
			if err != nil {
				t.Fatalf("Usage: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
			if n := fake.Calls(awsfake.OpGetMetricData, "us-east-1"); n != tt.wantCalls {
				t.Errorf("GetMetricData calls = %d, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestUsagePartialData(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 5, 30, 0, time.UTC)
	start := time.Date(2026, 11, 24, 12, 4, 0, 0, time.UTC)
	fake := newFake(t)
	fake.SetDatapoints("us-east-1", modelSonnet, MetricInvocations, "Sum", minutes(start, 4)...)
	fake.SetMetricStatus("us-east-1", modelSonnet, MetricInvocations, "Sum", "InternalError")
	fake.SetMetricStatus("us-east-1", modelSonnet, MetricInvocationLatency, "p99", "Forbidden")

	got, err := NewCloudWatchMetrics(newFactory(t, fake)).Usage(context.Background(), "us-east-1", []string{modelSonnet}, time.Minute, now)
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	want := ModelUsage{
		Region: "us-east-1", ModelID: modelSonnet, Start: start, End: start.Add(time.Minute),
		Invocations: ptr(4.0),
		Missing:     []string{MetricInvocationThrottles, MetricInputTokenCount, MetricOutputTokenCount, MetricInvocationLatency},
		Partial:     []string{MetricInvocations, MetricInvocationLatency},
	}
	if diff := cmp.Diff(want, got[modelSonnet]); diff != "" {
		t.Errorf("usage (-want +got):\n%s", diff)
	}
}

// TestUsageBatchesQueries: CloudWatch takes at most 500 queries per call,
// five per model, so 101 models take two calls.
func TestUsageBatchesQueries(t *testing.T) {
	fake := newFake(t)
	now := time.Date(2026, 11, 24, 12, 5, 30, 0, time.UTC)
	var models []string
	for i := range 101 {
		models = append(models, fmt.Sprintf("vendor.model-%03d", i))
	}
	last := models[100]
	fake.SetDatapoints("eu-west-1", last, MetricInvocations, "Sum", minutes(now.Truncate(time.Minute).Add(-time.Minute), 42)...)

	got, err := NewCloudWatchMetrics(newFactory(t, fake)).Usage(context.Background(), "eu-west-1", models, time.Minute, now)
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	if len(got) != 101 || got[last].Invocations == nil || *got[last].Invocations != 42 {
		t.Errorf("got %d models, last %+v; want 101 models and 42 invocations for %s", len(got), got[last], last)
	}
	if n := fake.Calls(awsfake.OpGetMetricData, "eu-west-1"); n != 2 {
		t.Errorf("GetMetricData calls = %d, want 2", n)
	}
}

func TestUsageErrors(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 5, 30, 0, time.UTC)
	tests := []struct {
		name          string
		setup         func(*awsfake.Server)
		models        []string
		window        time.Duration
		wantKind      error
		wantCode      string
		wantRetryable bool
	}{
		{
			name:   "throttled",
			setup:  func(f *awsfake.Server) { f.ThrottleNext(awsfake.OpGetMetricData, 1) },
			models: []string{modelSonnet}, window: 5 * time.Minute,
			wantKind: ErrThrottled, wantCode: "Throttling", wantRetryable: true,
		},
		{
			name:   "access denied",
			setup:  func(f *awsfake.Server) { f.DenyAccess(awsfake.OpGetMetricData, true) },
			models: []string{modelSonnet}, window: 5 * time.Minute,
			wantKind: ErrAccessDenied, wantCode: "AccessDenied",
		},
		{
			name:   "window shorter than a minute",
			setup:  func(*awsfake.Server) {},
			models: []string{modelSonnet}, window: 30 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t)
			tt.setup(fake)
			got, err := NewCloudWatchMetrics(newFactory(t, fake)).Usage(context.Background(), "us-west-2", tt.models, tt.window, now)
			if got != nil {
				t.Errorf("usage = %v, want nil on error", got)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error = %v, want *Error", err)
			}
			if tt.wantKind != nil && !errors.Is(err, tt.wantKind) {
				t.Errorf("error = %v, want %v", err, tt.wantKind)
			}
			if e.Code != tt.wantCode || IsRetryable(err) != tt.wantRetryable {
				t.Errorf("code %q retryable %v, want %q %v", e.Code, IsRetryable(err), tt.wantCode, tt.wantRetryable)
			}
			for _, part := range []string{"cloudwatch:GetMetricData", "us-west-2", modelSonnet} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not name %q", err, part)
				}
			}
		})
	}
}

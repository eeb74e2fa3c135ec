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
	modelSonnet37   = "anthropic.claude-3-7-sonnet-20250219-v1:0"
	modelNoStream   = "vendor.batch-only-v1:0"
	profileSonnet37 = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
	profileSonnet35 = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"
	profileNoStream = "us.vendor.batch-only-v1:0"
)

// seedCatalogue gives us-east-1 a realistic mix and eu-west-1 a smaller one.
func seedCatalogue(f *awsfake.Server) {
	yes, no := ptr(true), ptr(false)
	f.SetFoundationModels("us-east-1",
		awsfake.FoundationModel{ID: modelSonnet, Provider: "Anthropic", InferenceTypes: []string{"ON_DEMAND", "INFERENCE_PROFILE"},
			InputModalities: []string{"TEXT", "IMAGE"}, OutputModalities: []string{"TEXT"}, Streaming: yes},
		awsfake.FoundationModel{ID: modelSonnet37, Provider: "Anthropic", InferenceTypes: []string{"INFERENCE_PROFILE"},
			InputModalities: []string{"TEXT", "IMAGE"}, OutputModalities: []string{"TEXT"}, Streaming: yes},
		awsfake.FoundationModel{ID: modelTitan, Provider: "Amazon", InferenceTypes: []string{"ON_DEMAND"},
			InputModalities: []string{"TEXT"}, OutputModalities: []string{"EMBEDDING"}},
		awsfake.FoundationModel{ID: modelNoStream, Provider: "Vendor", InferenceTypes: []string{"ON_DEMAND", "INFERENCE_PROFILE"},
			InputModalities: []string{"TEXT"}, OutputModalities: []string{"TEXT"}, Streaming: no},
	)
	f.SetInferenceProfiles("us-east-1",
		awsfake.InferenceProfile{ID: profileSonnet35, Name: "US Claude 3.5 Sonnet", ModelID: modelSonnet, Regions: []string{"us-east-1", "us-west-2"}},
		awsfake.InferenceProfile{ID: profileSonnet37, Name: "US Claude 3.7 Sonnet", ModelID: modelSonnet37, Regions: []string{"us-east-1", "us-east-2", "us-west-2"}},
		awsfake.InferenceProfile{ID: profileNoStream, Name: "US batch only", ModelID: modelNoStream, Regions: []string{"us-east-1"}},
	)
	f.SetFoundationModels("eu-west-1",
		awsfake.FoundationModel{ID: modelTitan, Provider: "Amazon", InferenceTypes: []string{"ON_DEMAND"},
			InputModalities: []string{"TEXT"}, OutputModalities: []string{"EMBEDDING"}},
	)
}

func TestServes(t *testing.T) {
	clock := newClock()
	at := clock.Now()
	tests := []struct {
		region, model string
		want          Validation
	}{
		{"us-east-1", modelSonnet, Validation{Kind: KindFoundationModel, Serves: true, Streaming: true}},
		{"us-east-1", "arn:aws:bedrock:us-east-1::foundation-model/" + modelSonnet, Validation{Kind: KindFoundationModel, Serves: true, Streaming: true}},
		{"us-east-1", modelSonnet37, Validation{Kind: KindFoundationModel,
			Reason: "us-east-1 does not offer on-demand invocation of " + modelSonnet37 + " (supported: INFERENCE_PROFILE); use an inference profile: " + profileSonnet37}},
		{"us-east-1", modelTitan, Validation{Kind: KindFoundationModel, Serves: true,
			Reason: "us-east-1 serves " + modelTitan + " without response streaming"}},
		{"us-east-1", profileSonnet37, Validation{Kind: KindInferenceProfile, Serves: true, Streaming: true}},
		{"us-east-1", "arn:aws:bedrock:us-east-1:" + awsfake.AccountID + ":inference-profile/" + profileSonnet35, Validation{Kind: KindInferenceProfile, Serves: true, Streaming: true}},
		{"us-east-1", profileNoStream, Validation{Kind: KindInferenceProfile, Serves: true,
			Reason: "inference profile " + profileNoStream + " in us-east-1 routes to " + modelNoStream + ", which does not support response streaming"}},
		{"eu-west-1", modelSonnet, Validation{Reason: "eu-west-1 offers no foundation model or inference profile " + modelSonnet}},
		{"eu-west-1", profileSonnet37, Validation{Reason: "eu-west-1 offers no foundation model or inference profile " + profileSonnet37}},
		{"us-west-2", modelTitan, Validation{Reason: "us-west-2 offers no foundation model or inference profile " + modelTitan}},
	}
	fake := newFake(t)
	seedCatalogue(fake)
	cat := NewBedrockCatalog(newFactory(t, fake), CatalogOptions{Now: clock.Now})
	for _, tt := range tests {
		t.Run(tt.region+"/"+tt.model, func(t *testing.T) {
			got, err := cat.Serves(context.Background(), tt.region, tt.model)
			if err != nil {
				t.Fatalf("Serves: %v", err)
			}
			want := tt.want
			want.Region, want.ModelID, want.CheckedAt = tt.region, tt.model, at
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("validation (-want +got):\n%s", diff)
			}
		})
	}
}

// TestServesPagesProfilesAndCaches: with one profile per page every page
// is read, and within the refresh interval nothing is read again.
func TestServesPagesProfilesAndCaches(t *testing.T) {
	fake := newFake(t)
	seedCatalogue(fake)
	fake.SetProfilePageSize(1)
	clock := newClock()
	cat := NewBedrockCatalog(newFactory(t, fake), CatalogOptions{Refresh: 30 * time.Minute, Now: clock.Now})
	ctx := context.Background()

	check := func(model string, wantModels, wantProfiles int) {
		t.Helper()
		v, err := cat.Serves(ctx, "us-east-1", model)
		if err != nil || !v.Serves {
			t.Fatalf("Serves(%s) = %+v, %v; want served", model, v, err)
		}
		if n := fake.Calls(awsfake.OpListFoundationModels, "us-east-1"); n != wantModels {
			t.Errorf("ListFoundationModels calls = %d, want %d", n, wantModels)
		}
		if n := fake.Calls(awsfake.OpListInferenceProfiles, "us-east-1"); n != wantProfiles {
			t.Errorf("ListInferenceProfiles calls = %d, want %d", n, wantProfiles)
		}
	}
	check(profileNoStream, 1, 3) // the last of three profiles, on the third page
	clock.Step(29 * time.Minute)
	check(profileSonnet35, 1, 3) // cached
	check(modelSonnet, 1, 3)     // same region, same catalogue
	clock.Step(time.Minute)
	check(modelSonnet, 2, 6) // refreshed
}

func TestServesStaleWhenThrottled(t *testing.T) {
	fake := newFake(t)
	seedCatalogue(fake)
	clock := newClock()
	cat := NewBedrockCatalog(newFactory(t, fake), CatalogOptions{Refresh: time.Hour, Now: clock.Now})
	ctx := context.Background()

	first, err := cat.Serves(ctx, "us-east-1", profileSonnet37)
	if err != nil {
		t.Fatalf("first Serves: %v", err)
	}
	clock.Step(2 * time.Hour)
	fake.ThrottleNext(awsfake.OpListInferenceProfiles, 1)
	got, err := cat.Serves(ctx, "us-east-1", profileSonnet37)
	if !errors.Is(err, ErrThrottled) || !IsRetryable(err) {
		t.Fatalf("error = %v, want a retryable ErrThrottled", err)
	}
	want := first
	want.Stale = true
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stale validation (-want +got):\n%s", diff)
	}

	// Within RetryAfterFailure (default 1m) the failure is remembered;
	// after it, the catalogue is read again and the verdict is fresh.
	calls := func() int { return fake.Calls(awsfake.OpListFoundationModels, "us-east-1") }
	before := calls()
	clock.Step(59 * time.Second)
	if got, err := cat.Serves(ctx, "us-east-1", modelSonnet); !errors.Is(err, ErrThrottled) || !got.Stale || !got.Serves || calls() != before {
		t.Errorf("within RetryAfterFailure: %+v, %v, %d calls; want the remembered stale verdict and no call", got, err, calls()-before)
	} else if !strings.Contains(err.Error(), "model "+modelSonnet) {
		t.Errorf("remembered error %q does not name the model asked about, %s", err, modelSonnet)
	}
	clock.Step(time.Second)
	if got, err := cat.Serves(ctx, "us-east-1", profileSonnet37); err != nil || got.Stale || !got.Serves || calls() != before+1 {
		t.Errorf("after RetryAfterFailure: %+v, %v, %d calls; want a fresh verdict after one call", got, err, calls()-before)
	}
}

func TestServesErrors(t *testing.T) {
	tests := []struct {
		name     string
		op       string
		deny     bool
		wantKind error
		wantCode string
		wantOp   string
	}{
		{name: "foundation models denied", op: awsfake.OpListFoundationModels, deny: true,
			wantKind: ErrAccessDenied, wantCode: "AccessDeniedException", wantOp: "bedrock:ListFoundationModels"},
		{name: "inference profiles denied", op: awsfake.OpListInferenceProfiles, deny: true,
			wantKind: ErrAccessDenied, wantCode: "AccessDeniedException", wantOp: "bedrock:ListInferenceProfiles"},
		{name: "foundation models throttled", op: awsfake.OpListFoundationModels,
			wantKind: ErrThrottled, wantCode: "ThrottlingException", wantOp: "bedrock:ListFoundationModels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t)
			seedCatalogue(fake)
			if tt.deny {
				fake.DenyAccess(tt.op, true)
			} else {
				fake.ThrottleNext(tt.op, 1)
			}
			v, err := NewBedrockCatalog(newFactory(t, fake), CatalogOptions{}).Serves(context.Background(), "us-east-1", modelSonnet)
			if v.Serves || v.Reason == "" {
				t.Errorf("validation = %+v with no catalogue, want not served, with a reason", v)
			}
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, tt.wantKind) || e.Code != tt.wantCode || e.Op != tt.wantOp {
				t.Fatalf("error = %v, want %v from %s with code %s", err, tt.wantKind, tt.wantOp, tt.wantCode)
			}
			for _, part := range []string{tt.wantOp, "us-east-1", "model " + modelSonnet} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not name %q", err, part)
				}
			}
		})
	}
}

package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrock/types"
)

// ModelCatalog answers whether a region serves a model id, model ARN,
// inference profile id (e.g. "us.anthropic.claude-…") or profile ARN.
type ModelCatalog interface {
	Serves(ctx context.Context, region, modelID string) (Validation, error)
}

// Kinds of model identifier a Validation can resolve to.
const (
	KindFoundationModel  = "foundation-model"
	KindInferenceProfile = "inference-profile"
)

// Validation is the verdict on one model in one region.
type Validation struct {
	Region  string
	ModelID string
	// Kind is KindFoundationModel or KindInferenceProfile; empty when the
	// region knows neither.
	Kind string
	// Serves: the region accepts on-demand invocations of this id.
	Serves bool
	// Streaming: responses can be streamed (ConverseStream,
	// InvokeModelWithResponseStream). Only meaningful when Serves.
	Streaming bool
	// Reason says, for a person reading a condition, why Serves or
	// Streaming is false. Empty when both are true.
	Reason string
	// CheckedAt is when the region's catalogue was fetched.
	CheckedAt time.Time
	// Stale: the latest refresh failed and this verdict comes from the
	// previous catalogue; the refresh error is returned alongside.
	Stale bool
}

// CatalogOptions tunes a BedrockCatalog; zero values take defaults.
type CatalogOptions struct {
	// Refresh is how long a region's catalogue is trusted. Models and
	// profiles change on AWS launches, not minute to minute: default 1h.
	Refresh time.Duration
	// RetryAfterFailure is how long a failed read is remembered (and its
	// error returned) before AWS is asked again. Default 1 minute, never
	// above Refresh.
	RetryAfterFailure time.Duration
	// Now is the clock; tests inject one.
	Now func() time.Time
}

// DefaultCatalogRefresh is CatalogOptions.Refresh when unset.
const DefaultCatalogRefresh = time.Hour

// bedrockAPI is the part of the Bedrock control-plane client used here.
type bedrockAPI interface {
	ListFoundationModels(context.Context, *bedrock.ListFoundationModelsInput, ...func(*bedrock.Options)) (*bedrock.ListFoundationModelsOutput, error)
	bedrock.ListInferenceProfilesAPIClient
}

// BedrockCatalog is the ModelCatalog backed by ListFoundationModels and
// ListInferenceProfiles, one cached catalogue per region.
type BedrockCatalog struct {
	clients    *ClientFactory
	refresh    time.Duration
	retryAfter time.Duration
	now        func() time.Time

	mu       sync.Mutex
	byRegion map[string]regionEntry
}

// regionEntry is what is known about one region: the last good catalogue,
// if any, and the last failure since it.
type regionEntry struct {
	cat      *catalogue
	err      error
	failedAt time.Time
}

var _ ModelCatalog = (*BedrockCatalog)(nil)

// catalogue is one region's models and profiles, indexed by id and by ARN.
type catalogue struct {
	models    map[string]brtypes.FoundationModelSummary
	profiles  map[string]brtypes.InferenceProfileSummary
	fetchedAt time.Time
}

// NewBedrockCatalog reads catalogues through clients.
func NewBedrockCatalog(clients *ClientFactory, opts CatalogOptions) *BedrockCatalog {
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultCatalogRefresh
	}
	if opts.RetryAfterFailure <= 0 {
		opts.RetryAfterFailure = DefaultRetryAfterFailure
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &BedrockCatalog{clients: clients, refresh: opts.Refresh, retryAfter: min(opts.RetryAfterFailure, opts.Refresh),
		now: opts.Now, byRegion: map[string]regionEntry{}}
}

// Serves judges modelID against the region's catalogue, refreshing it
// when older than the refresh interval. If the refresh fails and an older
// catalogue exists, the verdict comes from it, marked Stale, with the
// error: a target validated an hour ago has not stopped being served
// because ListFoundationModels was throttled. A failure is remembered for
// RetryAfterFailure, within which AWS is not asked again.
func (c *BedrockCatalog) Serves(ctx context.Context, region, modelID string) (Validation, error) {
	now := c.now()
	c.mu.Lock()
	e := c.byRegion[region]
	c.mu.Unlock()
	switch {
	case e.err != nil && now.Sub(e.failedAt) < c.retryAfter:
		// The failure was the region's; name the model asked about now.
		return e.served(region, modelID), withSubject(e.err, "model "+modelID)
	case e.err == nil && e.cat != nil && now.Sub(e.cat.fetchedAt) < c.refresh:
		return judge(e.cat, region, modelID), nil
	}

	fresh, err := c.fetch(ctx, region, modelID)
	if err != nil {
		e.err, e.failedAt = err, now
	} else {
		fresh.fetchedAt = now
		e = regionEntry{cat: fresh}
	}
	c.mu.Lock()
	c.byRegion[region] = e
	c.mu.Unlock()
	if err != nil {
		return e.served(region, modelID), err
	}
	return judge(fresh, region, modelID), nil
}

// served is the verdict while the region's last read failed: from the
// previous catalogue, marked Stale, or "not served" when there is none.
func (e regionEntry) served(region, modelID string) Validation {
	if e.cat == nil {
		return Validation{Region: region, ModelID: modelID, Reason: "cannot read the Bedrock catalogue of " + region}
	}
	v := judge(e.cat, region, modelID)
	v.Stale = true
	return v
}

// fetch reads all foundation models (unfiltered: embedding models output
// EMBEDDING, not TEXT, and are valid targets too) and every page of
// inference profiles, system-defined and application ones alike.
func (c *BedrockCatalog) fetch(ctx context.Context, region, modelID string) (*catalogue, error) {
	subject := "model " + modelID
	clients, err := c.clients.For(region)
	if err != nil {
		return nil, &Error{Op: "bedrock:ListFoundationModels", Region: region, Subject: subject, Err: err}
	}
	return fetchCatalogue(ctx, clients.Bedrock, region, subject)
}

func fetchCatalogue(ctx context.Context, api bedrockAPI, region, subject string) (*catalogue, error) {
	cat := &catalogue{models: map[string]brtypes.FoundationModelSummary{}, profiles: map[string]brtypes.InferenceProfileSummary{}}
	fm, err := api.ListFoundationModels(ctx, &bedrock.ListFoundationModelsInput{})
	if err != nil {
		return nil, newError("bedrock:ListFoundationModels", region, subject, err)
	}
	for _, m := range fm.ModelSummaries {
		cat.models[awssdk.ToString(m.ModelId)] = m
		cat.models[awssdk.ToString(m.ModelArn)] = m
	}
	p := bedrock.NewListInferenceProfilesPaginator(api, &bedrock.ListInferenceProfilesInput{MaxResults: awssdk.Int32(1000)},
		func(o *bedrock.ListInferenceProfilesPaginatorOptions) {
			o.StopOnDuplicateToken = true // a repeated token would otherwise loop until the deadline
		})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, newError("bedrock:ListInferenceProfiles", region, subject, err)
		}
		for _, ip := range out.InferenceProfileSummaries {
			cat.profiles[awssdk.ToString(ip.InferenceProfileId)] = ip
			cat.profiles[awssdk.ToString(ip.InferenceProfileArn)] = ip
		}
	}
	delete(cat.models, "")
	delete(cat.profiles, "")
	return cat, nil
}

// judge is the pure verdict on one id against one catalogue.
func judge(cat *catalogue, region, modelID string) Validation {
	v := Validation{Region: region, ModelID: modelID, CheckedAt: cat.fetchedAt}

	if m, ok := cat.models[modelID]; ok {
		v.Kind = KindFoundationModel
		if !slices.Contains(m.InferenceTypesSupported, brtypes.InferenceTypeOnDemand) {
			v.Reason = fmt.Sprintf("%s does not offer on-demand invocation of %s (supported: %s)",
				region, modelID, joinTypes(m.InferenceTypesSupported))
			if profiles := profilesFor(cat, awssdk.ToString(m.ModelId)); len(profiles) > 0 {
				v.Reason += "; use an inference profile: " + strings.Join(profiles, ", ")
			}
			return v
		}
		v.Serves = true
		v.Streaming = awssdk.ToBool(m.ResponseStreamingSupported)
		if !v.Streaming {
			v.Reason = fmt.Sprintf("%s serves %s without response streaming", region, modelID)
		}
		return v
	}

	if ip, ok := cat.profiles[modelID]; ok {
		v.Kind = KindInferenceProfile
		if ip.Status != brtypes.InferenceProfileStatusActive {
			v.Reason = fmt.Sprintf("inference profile %s in %s is %s, not ACTIVE", modelID, region, ip.Status)
			return v
		}
		v.Serves = true
		v.Streaming, v.Reason = profileStreaming(cat, region, modelID, ip)
		return v
	}

	v.Reason = fmt.Sprintf("%s offers no foundation model or inference profile %s", region, modelID)
	return v
}

// profileStreaming decides streaming for a profile from the foundation
// models it routes to, as listed in this region: it streams only if every
// one of them does, since any may serve a given request.
func profileStreaming(cat *catalogue, region, profileID string, ip brtypes.InferenceProfileSummary) (bool, string) {
	var found int
	for _, pm := range ip.Models {
		id := modelIDFromArn(awssdk.ToString(pm.ModelArn))
		m, ok := cat.models[id]
		if !ok {
			continue
		}
		found++
		if !awssdk.ToBool(m.ResponseStreamingSupported) {
			return false, fmt.Sprintf("inference profile %s in %s routes to %s, which does not support response streaming", profileID, region, id)
		}
	}
	if found == 0 {
		return false, fmt.Sprintf("cannot tell whether inference profile %s in %s streams: none of its models is listed in %s", profileID, region, region)
	}
	return true, ""
}

// profilesFor lists, sorted, the profile ids in the catalogue that route to modelID.
func profilesFor(cat *catalogue, modelID string) []string {
	var ids []string
	for key, ip := range cat.profiles {
		if key != awssdk.ToString(ip.InferenceProfileId) {
			continue // each profile is indexed twice; count it once
		}
		for _, pm := range ip.Models {
			if modelIDFromArn(awssdk.ToString(pm.ModelArn)) == modelID {
				ids = append(ids, key)
				break
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// withSubject is err with its *Error's Subject replaced; other errors are
// returned as they are.
func withSubject(err error, subject string) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	c := *e
	c.Subject = subject
	return &c
}

// modelIDFromArn takes "arn:aws:bedrock:REGION::foundation-model/ID" to ID.
func modelIDFromArn(arn string) string {
	_, id, ok := strings.Cut(arn, ":foundation-model/")
	if !ok {
		return ""
	}
	return id
}

func joinTypes(ts []brtypes.InferenceType) string {
	if len(ts) == 0 {
		return "none"
	}
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

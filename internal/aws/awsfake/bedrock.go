package awsfake

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// FoundationModel is one entry of a region's ListFoundationModels.
type FoundationModel struct {
	ID       string
	Name     string
	Provider string
	// InferenceTypes: ON_DEMAND, PROVISIONED, INFERENCE_PROFILE.
	InferenceTypes   []string
	InputModalities  []string // TEXT, IMAGE, EMBEDDING
	OutputModalities []string // TEXT, IMAGE, EMBEDDING
	// Streaming is responseStreamingSupported; nil leaves the field out,
	// as AWS does for models where it does not apply.
	Streaming *bool
	// Lifecycle is ACTIVE or LEGACY; empty means ACTIVE.
	Lifecycle string
}

// InferenceProfile is one entry of a region's ListInferenceProfiles.
type InferenceProfile struct {
	ID     string // e.g. us.anthropic.claude-3-5-sonnet-20240620-v1:0
	Name   string
	Type   string // SYSTEM_DEFINED or APPLICATION; empty means SYSTEM_DEFINED
	Status string // ACTIVE; empty means ACTIVE
	// ModelID is the foundation model the profile routes to, and Regions
	// the regions it routes across; together they give the profile's models.
	ModelID string
	Regions []string
}

// SetFoundationModels replaces a region's model catalogue.
func (s *Server) SetFoundationModels(region string, models ...FoundationModel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.models[region] = slices.Clone(models)
}

// SetInferenceProfiles replaces a region's inference profiles.
func (s *Server) SetInferenceProfiles(region string, profiles ...InferenceProfile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.profiles[region] = slices.Clone(profiles)
}

// SetProfilePageSize caps the profiles per ListInferenceProfiles reply, so
// tests can force paging even when the client asks for more.
func (s *Server) SetProfilePageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.profilePageSize = n
}

// JSON shapes of the Bedrock REST-JSON replies, member names as in the model.
type (
	modelSummary struct {
		ModelArn                   string          `json:"modelArn"`
		ModelID                    string          `json:"modelId"`
		ModelName                  string          `json:"modelName,omitempty"`
		ProviderName               string          `json:"providerName,omitempty"`
		InputModalities            []string        `json:"inputModalities,omitempty"`
		OutputModalities           []string        `json:"outputModalities,omitempty"`
		ResponseStreamingSupported *bool           `json:"responseStreamingSupported,omitempty"`
		CustomizationsSupported    []string        `json:"customizationsSupported"`
		InferenceTypesSupported    []string        `json:"inferenceTypesSupported"`
		ModelLifecycle             *modelLifecycle `json:"modelLifecycle,omitempty"`
	}
	modelLifecycle struct {
		Status string `json:"status"`
	}
	profileSummary struct {
		InferenceProfileName string         `json:"inferenceProfileName"`
		InferenceProfileArn  string         `json:"inferenceProfileArn"`
		InferenceProfileID   string         `json:"inferenceProfileId"`
		Description          string         `json:"description,omitempty"`
		CreatedAt            string         `json:"createdAt,omitempty"`
		UpdatedAt            string         `json:"updatedAt,omitempty"`
		Models               []profileModel `json:"models"`
		Status               string         `json:"status"`
		Type                 string         `json:"type"`
	}
	profileModel struct {
		ModelArn string `json:"modelArn"`
	}
)

// profileEpoch is the fixed creation time of every profile; Bedrock sends
// these as RFC 3339 date-times.
var profileEpoch = time.Date(2024, 8, 27, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)

func foundationModelArn(region, id string) string {
	return "arn:aws:bedrock:" + region + "::foundation-model/" + id
}

func (s *Server) serveBedrock(w http.ResponseWriter, r *http.Request, op, region string) {
	rt := route{op: op, service: signingBedrock, proto: protoRESTJSON}
	q := r.URL.Query()
	switch op {
	case OpListFoundationModels:
		s.mu.Lock()
		models := slices.Clone(s.models[region])
		s.mu.Unlock()
		out := []modelSummary{}
		for _, m := range models {
			if v := q.Get("byOutputModality"); v != "" && !slices.Contains(m.OutputModalities, v) {
				continue
			}
			if v := q.Get("byInferenceType"); v != "" && !slices.Contains(m.InferenceTypes, v) {
				continue
			}
			if v := q.Get("byProvider"); v != "" && v != m.Provider {
				continue
			}
			status := m.Lifecycle
			if status == "" {
				status = "ACTIVE"
			}
			out = append(out, modelSummary{
				ModelArn: foundationModelArn(region, m.ID), ModelID: m.ID, ModelName: m.Name, ProviderName: m.Provider,
				InputModalities: m.InputModalities, OutputModalities: m.OutputModalities,
				ResponseStreamingSupported: m.Streaming, CustomizationsSupported: []string{},
				InferenceTypesSupported: m.InferenceTypes, ModelLifecycle: &modelLifecycle{Status: status},
			})
		}
		writeJSON(w, map[string]any{"modelSummaries": out})

	case OpListInferenceProfiles:
		maxResults := 1000
		if v := q.Get("maxResults"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1000 {
				writeError(w, protoRESTJSON, badRequest(rt, "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 1000"))
				return
			}
			maxResults = n
		}
		offset := 0
		if v := q.Get("nextToken"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				writeError(w, protoRESTJSON, badRequest(rt, "invalid nextToken"))
				return
			}
			offset = n
		}
		s.mu.Lock()
		profiles := slices.Clone(s.profiles[region])
		maxResults = min(maxResults, s.profilePageSize)
		s.mu.Unlock()
		var all []profileSummary
		for _, p := range profiles {
			typ, status := p.Type, p.Status
			if typ == "" {
				typ = "SYSTEM_DEFINED"
			}
			if status == "" {
				status = "ACTIVE"
			}
			if v := q.Get("type"); v != "" && v != typ {
				continue
			}
			ps := profileSummary{
				InferenceProfileName: p.Name, InferenceProfileID: p.ID,
				InferenceProfileArn: "arn:aws:bedrock:" + region + ":" + AccountID + ":inference-profile/" + p.ID,
				CreatedAt:           profileEpoch, UpdatedAt: profileEpoch, Status: status, Type: typ,
				Models: []profileModel{},
			}
			for _, reg := range p.Regions {
				ps.Models = append(ps.Models, profileModel{ModelArn: foundationModelArn(reg, p.ModelID)})
			}
			all = append(all, ps)
		}
		page := []profileSummary{}
		if offset < len(all) {
			page = all[offset:min(offset+maxResults, len(all))]
		}
		out := map[string]any{"inferenceProfileSummaries": page}
		if offset+maxResults < len(all) {
			out["nextToken"] = strconv.Itoa(offset + maxResults)
		}
		writeJSON(w, out)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Requestid", "fake-request-id")
	_ = json.NewEncoder(w).Encode(v)
}

package upstreamsim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestOpenSearch(t *testing.T) {
	sim := startSim(t, Options{Documents: 20})
	tests := []struct {
		name     string
		path     string
		body     string
		wantHits int
		wantCode int
	}{
		{"default size", "/docs/_search", `{"query":{"match":{"text":"q"}}}`, 10, 200},
		{"size", "/docs/_search", `{"size":3}`, 3, 200},
		{"size zero", "/docs/_search", `{"size":0}`, 0, 200},
		{"size above corpus", "/docs/_search", `{"size":500}`, 20, 200},
		{"size parameter", "/docs/_search?size=4", ``, 4, 200},
		{"knn k", "/docs/_search", `{"query":{"knn":{"embedding":{"vector":[0.1,0.2],"k":7}}}}`, 7, 200},
		{"knn k and smaller size", "/docs/_search", `{"size":2,"query":{"knn":{"embedding":{"vector":[0.1],"k":7}}}}`, 2, 200},
		{"knn k above corpus", "/docs/_search", `{"query":{"knn":{"embedding":{"vector":[0.1],"k":100}}}}`, 20, 200},
		{"prefixed", "/r/kb/docs/_search", `{"size":1}`, 1, 200},
		{"malformed", "/docs/_search", `{"size":"x"}`, 0, 400},
		{"negative size", "/docs/_search", `{"size":-1}`, 0, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := post(t, sim.URL()+tt.path, tt.body, nil)
			if status != tt.wantCode {
				t.Fatalf("status = %d, want %d: %s", status, tt.wantCode, body)
			}
			if status != 200 {
				var e struct {
					Error struct {
						Type string `json:"type"`
					} `json:"error"`
					Status int `json:"status"`
				}
				if json.Unmarshal(body, &e) != nil || e.Status != status || e.Error.Type == "" {
					t.Errorf("error body %s is not in OpenSearch shape", body)
				}
				return
			}
			var res struct {
				TimedOut *bool `json:"timed_out"`
				Hits     struct {
					Total struct {
						Value    int    `json:"value"`
						Relation string `json:"relation"`
					} `json:"total"`
					MaxScore *float64 `json:"max_score"`
					Hits     []osHit  `json:"hits"`
				} `json:"hits"`
			}
			if err := json.Unmarshal(body, &res); err != nil {
				t.Fatalf("answer is not JSON: %v", err)
			}
			if len(res.Hits.Hits) != tt.wantHits || res.TimedOut == nil || *res.TimedOut ||
				res.Hits.Total.Relation != "eq" || (tt.wantHits > 0) != (res.Hits.MaxScore != nil) {
				t.Errorf("hits %d (want %d), timed_out %v, total %+v, max_score %v", len(res.Hits.Hits), tt.wantHits, res.TimedOut, res.Hits.Total, res.Hits.MaxScore)
			}
			if tt.wantHits > 0 && (res.Hits.Hits[0].Index != "docs" || res.Hits.Hits[0].ID != "doc-0" || res.Hits.Hits[0].Source["text"] == nil) {
				t.Errorf("first hit = %+v", res.Hits.Hits[0])
			}
		})
	}
	if got := sim.Stats().Requests[RouteOpenSearchSearch]; got != int64(len(tests)) {
		t.Errorf("opensearch requests = %d, want %d", got, len(tests))
	}
}

func TestGenericSearch(t *testing.T) {
	sim := startSim(t, Options{Documents: 12})
	tests := []struct {
		name string
		body string
		want int
	}{
		{"default top_k", `{"query":"q"}`, 10},
		{"top_k", `{"query":"q","top_k":3}`, 3},
		{"capped by corpus", `{"query":"q","top_k":1000}`, 12},
		{"empty body", ``, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := post(t, sim.URL()+"/r/kb/search", tt.body, nil)
			var res struct {
				Results []genericResult `json:"results"`
			}
			if status != http.StatusOK || json.Unmarshal(body, &res) != nil {
				t.Fatalf("status %d body %s", status, body)
			}
			if len(res.Results) != tt.want {
				t.Errorf("results = %d, want %d", len(res.Results), tt.want)
			}
			if diff := cmp.Diff(genericResult{ID: "doc-0", Score: 1, Text: docText(0)}, res.Results[0]); diff != "" {
				t.Errorf("first result (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("throttled", func(t *testing.T) {
		sim.SetFaults(Faults{ThrottleRate: 1, RetryAfter: 1})
		defer sim.SetFaults(Faults{})
		status, hdr, _ := post(t, sim.URL()+"/search", `{}`, nil)
		if status != http.StatusTooManyRequests || hdr.Get("Retry-After") != "1" {
			t.Errorf("status %d, Retry-After %q", status, hdr.Get("Retry-After"))
		}
	})
}

func TestMatchRoute(t *testing.T) {
	tests := []struct {
		path string
		ok   bool
		key  string
		name string
	}{
		{"/v1/chat/completions", true, RouteOpenAIChat, ""},
		{"/m/gpt/v1/chat/completions/", true, RouteOpenAIChat, ""},
		{"/v1/embeddings", true, RouteOpenAIEmbeddings, ""},
		{"/model/anthropic.claude-v2/converse", true, RouteBedrockConverse, "anthropic.claude-v2"},
		{"/model/m/converse-stream", true, RouteBedrockConverseStream, "m"},
		{"/model/m/invoke", true, RouteBedrockInvoke, "m"},
		{"/model/m/invoke-with-response-stream", true, RouteBedrockInvokeStream, "m"},
		{"/anything/model/X/converse", true, RouteBedrockConverse, "X"},
		{"/m/model/model/X/converse", true, RouteBedrockConverse, "X"},
		{"/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.m/converse", true, RouteBedrockConverse, "arn:aws:bedrock:us-east-1:1:inference-profile/us.m"},
		{"/model/arn:aws:bedrock:us-east-1:1:inference-profile/us.m/converse", true, RouteBedrockConverse, "arn:aws:bedrock:us-east-1:1:inference-profile/us.m"},
		{"/endpoints/my-ep/invocations", true, RouteSageMakerInvoke, "my-ep"},
		{"/m/sm/endpoints/my-ep/invocations-response-stream", true, RouteSageMakerInvokeStream, "my-ep"},
		{"/idx/_search", true, RouteOpenSearchSearch, "idx"},
		{"/_search", true, RouteOpenSearchSearch, "_all"},
		{"/search", true, RouteGenericSearch, ""},
		{"/r/kb/search", true, RouteGenericSearch, ""},
		{"/", false, "", ""},
		{"/converse", false, "", ""},
		{"/model//converse", false, "", ""},
		{"/endpoints//invocations", false, "", ""},
		{"/v1/models", false, "", ""},
	}
	for _, tt := range tests {
		rt, ok := matchRoute(tt.path)
		if ok != tt.ok || rt.key != tt.key || rt.name != tt.name {
			t.Errorf("matchRoute(%q) = %v %q %q, want %v %q %q", tt.path, ok, rt.key, rt.name, tt.ok, tt.key, tt.name)
		}
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	sim := startSim(t, Options{})
	if status, _, _ := post(t, sim.URL()+"/v1/models", `{}`, nil); status != http.StatusNotFound {
		t.Errorf("unknown route: %d", status)
	}
	resp, err := http.Get(sim.URL() + "/v1/chat/completions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET chat: %d", resp.StatusCode)
	}
	if got := sim.Stats().Requests[RouteUnknown]; got != 1 {
		t.Errorf("unknown requests = %d", got)
	}
}

func TestControlHandler(t *testing.T) {
	sim := startSim(t, Options{})
	ctl := httptest.NewServer(sim.ControlHandler())
	defer ctl.Close()

	status, _, body := put(t, ctl.URL+"/_sim/faults", `{"latency":"5ms","throttleRate":0.5,"retryAfter":"2s","stallAfterEvents":3}`)
	if status != http.StatusOK {
		t.Fatalf("PUT faults: %d %s", status, body)
	}
	want := Faults{Latency: 5e6, ThrottleRate: 0.5, RetryAfter: 2e9, StallAfterEvents: 3}
	if diff := cmp.Diff(want, sim.Faults()); diff != "" {
		t.Errorf("faults (-want +got):\n%s", diff)
	}
	for _, bad := range []string{`{"latency":"soon"}`, `{"throttleRate":2}`, `{"nope":1}`} {
		if status, _, _ := put(t, ctl.URL+"/_sim/faults", bad); status != http.StatusBadRequest {
			t.Errorf("PUT %s: %d, want 400", bad, status)
		}
	}
	if status, _, _ := post(t, ctl.URL+"/_sim/stats/reset", ``, nil); status != http.StatusNoContent {
		t.Errorf("reset: %d", status)
	}
	post(t, sim.URL()+"/search", `{}`, map[string]string{"Authorization": "Bearer secret-key"})
	resp, err := http.Get(ctl.URL + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET stats: %d %v", resp.StatusCode, err)
	}
	if st.Requests[RouteGenericSearch] != 1 || st.LastHeaders.Get("Authorization") != "REDACTED" {
		t.Errorf("stats: requests %v, Authorization %q", st.Requests, st.LastHeaders.Get("Authorization"))
	}
	if sim.Stats().LastHeaders.Get("Authorization") != "Bearer secret-key" {
		t.Error("redaction must not change the in-process stats")
	}
}

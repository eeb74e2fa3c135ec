package registry

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/breakwater-dev/breakwater/internal/guardconfig"
)

// TestEveryEnumValueHasAProvider: a provider or backend type the contract accepts but the guard
// cannot serve would pass validation and fail only at load.
func TestEveryEnumValueHasAProvider(t *testing.T) {
	for _, p := range []guardconfig.Provider{guardconfig.OpenAI, guardconfig.Bedrock, guardconfig.SageMaker} {
		if _, err := Model(p); err != nil {
			t.Error(err)
		}
	}
	for _, ty := range []guardconfig.RetrievalType{guardconfig.OpenSearch, guardconfig.HTTPSearch} {
		if _, err := Retrieval(guardconfig.RetrievalBackend{Type: ty}); err != nil {
			t.Error(err)
		}
	}
	if _, err := Model("nope"); err == nil {
		t.Error("Model(nope) has no error")
	}
}

func FuzzCapRequest(f *testing.F) {
	f.Add([]byte(`{"size":50,"query":{"knn":{"v":{"vector":[1,2],"k":40}}}}`), "", 5, true)
	f.Add([]byte(`{"query":"q","top_k":25}`), "top_k", 3, false)
	f.Add([]byte(``), "size", 5, true)
	f.Fuzz(func(t *testing.T, body []byte, size string, limit int, opensearch bool) {
		if limit < 1 || limit > 10000 {
			return
		}
		c := guardconfig.RetrievalBackend{Type: guardconfig.HTTPSearch, CapField: "top_k"}
		if opensearch {
			c = guardconfig.RetrievalBackend{Type: guardconfig.OpenSearch}
		}
		b, err := Retrieval(c)
		if err != nil {
			t.Fatal(err)
		}
		q := url.Values{}
		if size != "" {
			q.Set("size", size)
		}
		out, _, err := b.CapRequest(body, q, limit)
		if err == nil && len(out) > 0 && json.Valid(body) && !json.Valid(out) {
			t.Fatalf("CapRequest turned valid JSON into invalid %q", out)
		}
	})
}

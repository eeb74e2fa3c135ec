// Package opensearch is the guard's OpenSearch (and Elasticsearch) retrieval backend: the _search
// API's "size" and k-NN "k" capped, results under hits.hits, errors in OpenSearch's
// {"error":{"type","reason"},"status"} shape.
package opensearch

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/breakwater-dev/breakwater/internal/guard/inspect"
	"github.com/breakwater-dev/breakwater/internal/guard/provider"
)

// defaultSize is what OpenSearch returns when a query names no size.
const defaultSize = 10

// Backend is the OpenSearch protocol.
type Backend struct{}

var _ provider.Retrieval = Backend{}

// CapRequest implements provider.Retrieval: size in the query string and the body, and the k of
// k-NN queries; a search that names no size gets the default of 10 capped too.
func (Backend) CapRequest(body []byte, query url.Values, limit int) ([]byte, bool, error) {
	capped := false
	if s := query.Get("size"); s != "" {
		if n, err := strconv.Atoi(s); err != nil || n > limit {
			query.Set("size", strconv.Itoa(limit))
			capped = true
		}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if query.Get("size") == "" && defaultSize > limit {
			query.Set("size", strconv.Itoa(limit))
			capped = true
		}
		return body, capped, nil
	}
	var v struct {
		Size *int `json:"size"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, false, err
	}
	requested := defaultSize
	if v.Size != nil {
		requested = *v.Size
	}
	nb, err := inspect.OpenSearchCap(body, limit)
	return nb, capped || requested > limit, err
}

// ResultsPath implements provider.Retrieval.
func (Backend) ResultsPath() string { return "hits.hits" }

// Empty implements provider.Retrieval: a search answer with no hits.
func (Backend) Empty() []byte {
	return []byte(`{"took":0,"timed_out":false,"_shards":{"total":0,"successful":0,"skipped":0,"failed":0},` +
		`"hits":{"total":{"value":0,"relation":"eq"},"max_score":null,"hits":[]}}`)
}

// WriteError implements provider.Retrieval.
func (Backend) WriteError(w http.ResponseWriter, status int, reason, message string) {
	provider.WriteJSON(w, status, map[string]any{"error": map[string]string{"type": reason, "reason": message}, "status": status})
}

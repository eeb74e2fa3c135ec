// Package httpsearch is the guard's generic HTTP retrieval backend: a JSON search API whose
// document count sits in a configured field (capField) and whose results sit in another
// (resultsField), errors as {"error":{"code","message"}}.
package httpsearch

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/breakwater-dev/breakwater/internal/guard/inspect"
	"github.com/breakwater-dev/breakwater/internal/guard/provider"
)

// Backend is a generic HTTP search API.
type Backend struct {
	CapField     string // dotted path of the document count in the request ("": none)
	ResultsField string // dotted path of the result array in the answer ("": unknown)
}

var _ provider.Retrieval = Backend{}

// CapRequest implements provider.Retrieval.
func (b Backend) CapRequest(body []byte, _ url.Values, limit int) ([]byte, bool, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return body, false, nil
	}
	nb, requested, err := inspect.SearchCap(body, b.CapField, limit)
	return nb, requested > limit, err
}

// ResultsPath implements provider.Retrieval.
func (b Backend) ResultsPath() string { return b.ResultsField }

// Empty implements provider.Retrieval: {} or the results field holding an empty array.
func (b Backend) Empty() []byte {
	if b.ResultsField == "" {
		return []byte(`{}`)
	}
	var v any = []any{}
	parts := strings.Split(b.ResultsField, ".")
	for i := len(parts) - 1; i >= 0; i-- {
		v = map[string]any{parts[i]: v}
	}
	out, _ := json.Marshal(v)
	return out
}

// WriteError implements provider.Retrieval.
func (Backend) WriteError(w http.ResponseWriter, status int, reason, message string) {
	provider.WriteJSON(w, status, map[string]any{"error": map[string]string{"code": reason, "message": message}})
}

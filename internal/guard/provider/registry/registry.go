// Package registry wires the guard's config enums to the provider implementations. It is the
// only package that names them: the proxy core asks it once per endpoint or backend when a
// config is compiled, and knows the providers only through the provider interfaces after that.
// Adding a provider is one case here plus its package.
package registry

import (
	"fmt"
	"strings"

	"github.com/breakwater-dev/breakwater/internal/guard/provider"
	"github.com/breakwater-dev/breakwater/internal/guard/provider/bedrock"
	"github.com/breakwater-dev/breakwater/internal/guard/provider/httpsearch"
	"github.com/breakwater-dev/breakwater/internal/guard/provider/openai"
	"github.com/breakwater-dev/breakwater/internal/guard/provider/opensearch"
	"github.com/breakwater-dev/breakwater/internal/guard/provider/sagemaker"
	"github.com/breakwater-dev/breakwater/internal/guardconfig"
)

// Model returns the protocol of an endpoint's provider.
func Model(p guardconfig.Provider) (provider.Model, error) {
	switch p {
	case guardconfig.OpenAI:
		return openai.Provider{}, nil
	case guardconfig.Bedrock:
		return bedrock.Provider{}, nil
	case guardconfig.SageMaker:
		return sagemaker.Provider{}, nil
	}
	return nil, fmt.Errorf("no provider %q", p)
}

// Fallback is the protocol of errors on model paths that no configured endpoint answers for.
func Fallback() provider.Model { return openai.Provider{} }

// ForPath returns the provider whose operation the escaped path after /m/{endpoint}/ names, and
// whether one does, so that an error on a path no endpoint serves (or one served by an endpoint
// of another provider) is answered in the shape the app's SDK parses. Bedrock and SageMaker
// paths are distinct (model/{id}/... and endpoints/{name}/...) and OpenAI's are neither; a path
// that is no operation still takes the shape its first segment suggests, else Fallback's.
func ForPath(rest string) (provider.Model, bool) {
	for _, p := range []provider.Model{bedrock.Provider{}, sagemaker.Provider{}, openai.Provider{}} {
		if _, ok := p.Route(rest); ok {
			return p, true
		}
	}
	switch first, _, _ := strings.Cut(rest, "/"); first {
	case "model":
		return bedrock.Provider{}, false
	case "endpoints":
		return sagemaker.Provider{}, false
	}
	return Fallback(), false
}

// Retrieval returns the protocol of a retrieval backend.
func Retrieval(b guardconfig.RetrievalBackend) (provider.Retrieval, error) {
	switch b.Type {
	case guardconfig.OpenSearch:
		return opensearch.Backend{}, nil
	case guardconfig.HTTPSearch:
		return httpsearch.Backend{CapField: b.CapField, ResultsField: b.ResultsField}, nil
	}
	return nil, fmt.Errorf("no retrieval backend type %q", b.Type)
}

// RetrievalFallback is the protocol of errors on retrieval paths that no configured backend
// answers for.
func RetrievalFallback() provider.Retrieval { return httpsearch.Backend{} }

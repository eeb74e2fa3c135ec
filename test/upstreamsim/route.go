package upstreamsim

import (
	"net/url"
	"strings"
)

// kind is the operation a request path names.
type kind int

const (
	kindOpenAIChat kind = iota
	kindOpenAIEmbeddings
	kindConverse
	kindConverseStream
	kindInvoke
	kindInvokeStream
	kindSageMakerInvoke
	kindSageMakerInvokeStream
	kindOpenSearch
	kindGenericSearch
)

// route is a matched request path.
type route struct {
	kind  kind
	proto protocol
	key   string // Stats.Requests key (the chat key may change to the stream key after parsing)
	name  string // decoded Bedrock model id, SageMaker endpoint name or OpenSearch index
}

// bedrockOps maps the last path segment of a Bedrock Runtime call to its
// operation.
var bedrockOps = map[string]route{
	"converse":                    {kind: kindConverse, proto: protoBedrock, key: RouteBedrockConverse},
	"converse-stream":             {kind: kindConverseStream, proto: protoBedrock, key: RouteBedrockConverseStream},
	"invoke":                      {kind: kindInvoke, proto: protoBedrock, key: RouteBedrockInvoke},
	"invoke-with-response-stream": {kind: kindInvokeStream, proto: protoBedrock, key: RouteBedrockInvokeStream},
}

// matchRoute finds the operation at the end of an escaped path, ignoring any
// prefix. It works on the escaped form because Bedrock model ids (inference
// profile ARNs) may contain '/', which the SDK sends as %2F inside one path
// segment.
func matchRoute(escapedPath string) (route, bool) {
	p := strings.TrimRight(escapedPath, "/")
	segs := strings.Split(p, "/")
	n := len(segs)
	if n < 2 {
		return route{}, false
	}
	last := segs[n-1]

	switch {
	case n >= 3 && segs[n-2] == "chat" && last == "completions":
		return route{kind: kindOpenAIChat, proto: protoOpenAI, key: RouteOpenAIChat}, true
	case last == "embeddings":
		return route{kind: kindOpenAIEmbeddings, proto: protoOpenAI, key: RouteOpenAIEmbeddings}, true
	case last == "_search":
		idx := "_all"
		if n >= 3 && segs[n-2] != "" {
			idx = unescape(segs[n-2])
		}
		return route{kind: kindOpenSearch, proto: protoOpenSearch, key: RouteOpenSearchSearch, name: idx}, true
	case last == "search":
		return route{kind: kindGenericSearch, proto: protoGeneric, key: RouteGenericSearch}, true
	case n >= 4 && segs[n-3] == "endpoints" && (last == "invocations" || last == "invocations-response-stream"):
		rt := route{kind: kindSageMakerInvoke, proto: protoSageMaker, key: RouteSageMakerInvoke, name: unescape(segs[n-2])}
		if last == "invocations-response-stream" {
			rt.kind, rt.key = kindSageMakerInvokeStream, RouteSageMakerInvokeStream
		}
		if rt.name == "" {
			return route{}, false
		}
		return rt, true
	}

	rt, ok := bedrockOps[last]
	if !ok || n < 4 {
		return route{}, false
	}
	// The usual case: "/model/{escaped id}/{op}".
	if segs[n-3] == "model" {
		rt.name = unescape(segs[n-2])
		if rt.name == "" {
			return route{}, false
		}
		return rt, true
	}
	// A client that did not escape '/' in an ARN: the id spans several
	// segments after the last "model" segment.
	for i := n - 3; i >= 0; i-- {
		if segs[i] == "model" {
			parts := make([]string, 0, n-1-i)
			for _, s := range segs[i+1 : n-1] {
				parts = append(parts, unescape(s))
			}
			rt.name = strings.Join(parts, "/")
			return rt, true
		}
	}
	return route{}, false
}

// unescape decodes one path segment, keeping it as is if it is not valid
// percent-encoding (the id is only used for stats and answers).
func unescape(seg string) string {
	v, err := url.PathUnescape(seg)
	if err != nil {
		return seg
	}
	return v
}

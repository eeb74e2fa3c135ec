package upstreamsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// modelRequest is the union of the request fields the sim reads from any
// model API body: OpenAI chat and embeddings, Bedrock Converse, Anthropic
// messages (InvokeModel), Titan, and TGI/OpenAI-style SageMaker payloads.
// Prompt-carrying fields stay raw because their shapes differ per API.
type modelRequest struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           int `json:"max_tokens"`
	MaxCompletionTokens int `json:"max_completion_tokens"`
	InferenceConfig     *struct {
		MaxTokens int `json:"maxTokens"`
	} `json:"inferenceConfig"`
	Parameters *struct {
		MaxNewTokens int `json:"max_new_tokens"`
	} `json:"parameters"`
	TextGenerationConfig *struct {
		MaxTokenCount int `json:"maxTokenCount"`
	} `json:"textGenerationConfig"`
	Dimensions     int    `json:"dimensions"`
	EncodingFormat string `json:"encoding_format"`

	Messages  json.RawMessage `json:"messages"`
	System    json.RawMessage `json:"system"`
	Prompt    json.RawMessage `json:"prompt"`
	InputText json.RawMessage `json:"inputText"`
	Inputs    json.RawMessage `json:"inputs"`
	Input     json.RawMessage `json:"input"`
}

// maxEmbeddingInputs is OpenAI's own limit; it also bounds the size of an
// embeddings answer.
const maxEmbeddingInputs = 2048

// parsedModel is what the sim needs from a model request.
type parsedModel struct {
	model        string
	stream       bool
	includeUsage bool
	maxTokens    int // 0 when the request sets no limit
	promptBytes  int
	dimensions   int
	base64       bool
	inputs       int // embeddings: how many inputs (vectors to answer)
}

// parseModelRequest reads a model request body. An empty body is an empty
// prompt; anything that is not a JSON object is an error.
func parseModelRequest(body []byte) (parsedModel, error) {
	p := parsedModel{inputs: 1}
	if len(bytes.TrimSpace(body)) == 0 {
		return p, nil
	}
	var req modelRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return p, errors.New("body is not a JSON object of the expected shape")
	}
	p.model = req.Model
	p.stream = req.Stream
	p.includeUsage = req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	p.dimensions = req.Dimensions
	p.base64 = req.EncodingFormat == "base64"
	limits := []int{req.MaxCompletionTokens, req.MaxTokens}
	if req.InferenceConfig != nil {
		limits = append(limits, req.InferenceConfig.MaxTokens)
	}
	if req.Parameters != nil {
		limits = append(limits, req.Parameters.MaxNewTokens)
	}
	if req.TextGenerationConfig != nil {
		limits = append(limits, req.TextGenerationConfig.MaxTokenCount)
	}
	for _, v := range limits {
		if v > 0 {
			p.maxTokens = v
			break
		}
	}
	for _, raw := range []json.RawMessage{req.Messages, req.System, req.Prompt, req.InputText, req.Inputs, req.Input} {
		n, err := textBytes(raw)
		if err != nil {
			return p, err
		}
		p.promptBytes += n
	}
	p.inputs = countInputs(req.Input)
	if p.inputs > maxEmbeddingInputs {
		return p, errors.New("too many embedding inputs")
	}
	return p, nil
}

// countInputs is the number of embedding inputs: a string or one array of
// token ids is one input; an array of strings or of token arrays is one per
// element.
func countInputs(raw json.RawMessage) int {
	var list []any
	if len(raw) == 0 || json.Unmarshal(raw, &list) != nil || len(list) == 0 {
		return 1
	}
	if _, isToken := list[0].(float64); isToken {
		return 1
	}
	return len(list)
}

// textBytes counts the prompt text in one prompt-carrying field: strings
// count their bytes, objects count their "text" and "content" members (the
// shapes of OpenAI messages, Converse content blocks and Anthropic content
// parts), numbers (token ids) count as one token's worth of bytes, and
// everything else (roles, images, tool specs) counts nothing.
func textBytes(raw json.RawMessage) (int, error) {
	if len(raw) == 0 {
		return 0, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, err
	}
	return countText(v), nil
}

func countText(v any) int {
	switch t := v.(type) {
	case string:
		return len(t)
	case float64:
		return 4
	case []any:
		n := 0
		for _, e := range t {
			n += countText(e)
		}
		return n
	case map[string]any:
		n := 0
		if s, ok := t["text"].(string); ok {
			n += len(s)
		}
		if c, ok := t["content"]; ok {
			n += countText(c)
		}
		return n
	}
	return 0
}

// inputTokens is the sim's tokenizer: a quarter of the prompt bytes,
// rounded up, at least one.
func inputTokens(promptBytes int) int {
	n := (promptBytes + 3) / 4
	if n < 1 {
		n = 1
	}
	return n
}

// outputTokens is min(requested, configured); the second result is true when
// the request's limit cut the answer short (finish reason "length").
func outputTokens(requested, configured int) (int, bool) {
	if requested > 0 && requested < configured {
		return requested, true
	}
	return configured, false
}

// searchRequest is an OpenSearch _search body, reduced to what decides the
// number of hits.
type searchRequest struct {
	Size  *int `json:"size"`
	Query struct {
		KNN map[string]struct {
			K int `json:"k"`
		} `json:"knn"`
	} `json:"query"`
}

// parseOpenSearch returns how many hits a _search asks for: size (body or
// ?size=, default 10), or the kNN k when size is absent, or the smaller of
// the two when both are set.
func parseOpenSearch(body []byte, sizeParam string) (int, error) {
	var req searchRequest
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return 0, errors.New("body is not a valid search request")
		}
	}
	if req.Size == nil && sizeParam != "" {
		v, err := strconv.Atoi(sizeParam)
		if err != nil {
			return 0, errors.New("size parameter is not a number")
		}
		req.Size = &v
	}
	k := 0
	for _, q := range req.Query.KNN {
		if q.K > k {
			k = q.K
		}
	}
	n := 10
	switch {
	case req.Size != nil && k > 0:
		n = min(*req.Size, k)
	case req.Size != nil:
		n = *req.Size
	case k > 0:
		n = k
	}
	if n < 0 {
		return 0, errors.New("size must not be negative")
	}
	return n, nil
}

// genericSearchRequest is the body of the generic /search API.
type genericSearchRequest struct {
	Query string `json:"query"`
	TopK  int    `json:"top_k"`
}

// parseGenericSearch returns the query length in bytes and top_k (default 10).
func parseGenericSearch(body []byte) (int, error) {
	var req genericSearchRequest
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return 0, errors.New("body is not a valid search request")
		}
	}
	if req.TopK <= 0 {
		return 10, nil
	}
	return req.TopK, nil
}

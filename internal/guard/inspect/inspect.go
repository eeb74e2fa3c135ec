// Package inspect reads and rewrites the untrusted request bodies the app
// sends through the guard, before any upstream call: it estimates the prompt
// size, clamps the requested output size, and caps the number of documents a
// retrieval call may return. The same byte walker reads the token usage of
// the provider's answers (AnswerUsage), without decoding them.
//
// Bodies are walked as bytes after json.Valid accepts them, and rewritten by
// splicing, so fields the guard does not know (new provider parameters) pass
// through untouched and in their original order, and a body that needs no
// change is returned as the very same slice, with no copy. Errors name the
// offending field, never its content: request text must not reach logs.
//
// # Token estimation
//
// EstimateTokens is ceil(bytes/4) over the prompt text. Four bytes per token
// is the usual rule of thumb for English with BPE tokenizers. It is used
// because it is cheap: no tokenizer (and no per-model vocabulary) on the hot
// path of every request. It errs high for English, where common tokenizers
// average slightly more than four bytes per token, and high again because
// string lengths are taken as written, escapes included. Erring high is the
// safe side for a fail-fast limit, which exists to stop runaway prompts, not
// to bill them: billing and quota settlement use the provider's own usage
// counts. It can err low for text that tokenizes densely (code, some
// non-Latin scripts), which is why limits should keep a margin.
//
// Prompt text means the string values of the fields the model reads
// (messages, system prompts, tool call arguments), not JSON syntax, roles or
// type tags, and not media payloads (images, audio, documents), whose token
// cost depends on the model and not on their encoded size. Tool and
// response-format schemas are counted at their full JSON size, because the
// model is shown them as text.
package inspect

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
)

// errMalformed is returned for bodies that are not a JSON object. It says
// nothing about the content on purpose.
var errMalformed = errors.New("request body is not a valid JSON object")

// EstimateTokens is the documented cheap estimator (see the package
// comment): ceil(bytes/4) of the prompt text, at least 1 for non-empty text.
func EstimateTokens(textBytes int) int64 {
	if textBytes <= 0 {
		return 0
	}
	return (int64(textBytes) + 3) / 4
}

// Info is what the guard learns about a model request.
type Info struct {
	PromptTokens int64 // estimate over the prompt text only (messages' content, system prompts, tool text), not JSON syntax
	MaxTokens    int64 // max output tokens after clamping (0 = none requested and no clamp)
	Stream       bool
	AskedUsage   bool // OpenAI: the app itself set stream_options.include_usage=true
	Model        string
}

// skipText names keys whose values are not prompt text: media payloads,
// opaque signatures, and the role and type tags every message carries.
func skipText(key []byte) bool {
	switch string(key) {
	case "role", "type",
		"image", "image_url", "images", "inputImage", "input_audio", "audio",
		"video", "document", "file", "source", "bytes", "data",
		"signature", "redactedContent":
		return true
	}
	return false
}

// textBytes sums the lengths of the string values in the value at b[i],
// leaving out values under skipText keys.
func textBytes(b []byte, i int) int {
	n, _ := textWalk(b, i)
	return n
}

// textWalk is textBytes in one pass: it returns the count and the index
// just past the value, so nested values are not scanned again by their
// parents.
func textWalk(b []byte, i int) (n, end int) {
	if i >= len(b) {
		return 0, len(b)
	}
	switch b[i] {
	case '"':
		e := stringEnd(b, i)
		return max(e-i-2, 0), e
	case '[':
		j := skipSpace(b, i+1)
		if j < len(b) && b[j] == ']' {
			return 0, j + 1
		}
		for j < len(b) {
			m, e := textWalk(b, j)
			n += m
			j = skipSpace(b, e)
			if j >= len(b) || b[j] != ',' {
				break
			}
			j = skipSpace(b, j+1)
		}
		return n, min(j+1, len(b))
	case '{':
		j := skipSpace(b, i+1)
		if j < len(b) && b[j] == '}' {
			return 0, j + 1
		}
		for j < len(b) && b[j] == '"' {
			ke := stringEnd(b, j)
			key := b[j+1 : max(ke-1, j+1)]
			j = skipSpace(b, ke)
			if j >= len(b) || b[j] != ':' {
				return n, len(b)
			}
			val := skipSpace(b, j+1)
			var e int
			if skipText(key) {
				e = valueEnd(b, val)
			} else {
				var m int
				m, e = textWalk(b, val)
				n += m
			}
			j = skipSpace(b, e)
			if j >= len(b) || b[j] != ',' {
				break
			}
			j = skipSpace(b, j+1)
		}
		return n, min(j+1, len(b))
	}
	return 0, valueEnd(b, i)
}

// parseBody validates body and parses its top-level object.
func parseBody(body []byte) (object, error) {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' || !jsonValid(body) {
		return object{}, errMalformed
	}
	top, ok := parseObject(body, i)
	if !ok {
		return object{}, errMalformed
	}
	return top, nil
}

// promptBytes adds up the prompt text of the named fields: string walks for
// message-like fields, whole JSON size for schema-like ones.
func promptBytes(b []byte, top object, textFields, schemaFields []string) (int, error) {
	n := 0
	for _, name := range textFields {
		m, found, err := top.find(name)
		if err != nil {
			return 0, err
		}
		if found {
			n += textBytes(b, m.val)
		}
	}
	for _, name := range schemaFields {
		m, found, err := top.find(name)
		if err != nil {
			return 0, err
		}
		if found && !isNull(b, m) {
			n += m.end - m.val
		}
	}
	return n, nil
}

// lowest folds the after-clamp values of several max-output fields into the
// one that binds.
func lowest(cur int64, r capResult) int64 {
	if r.after <= 0 {
		return cur
	}
	if cur == 0 || r.after < cur {
		return r.after
	}
	return cur
}

func readModelAndStream(b []byte, top object, info *Info) error {
	m, found, err := top.find("model")
	if err != nil {
		return err
	}
	if found {
		info.Model = stringValue(b, m)
	}
	m, found, err = top.find("stream")
	if err != nil {
		return err
	}
	info.Stream = found && string(b[m.val:m.end]) == "true"
	return nil
}

// OpenAIChat inspects a chat completions request. Both max_tokens and
// max_completion_tokens are clamped when present; when neither is, the clamp
// is added as max_completion_tokens: OpenAI's reasoning models reject
// max_tokens, while vLLM and OpenAI's other models accept both. For stream=true it also sets
// stream_options.include_usage=true so that the stream reports usage; the
// proxy drops that extra chunk again unless the app asked for it itself
// (AskedUsage).
func OpenAIChat(body []byte, clamp int64) (Info, []byte, error) {
	top, err := parseBody(body)
	if err != nil {
		return Info{}, nil, err
	}
	var info Info
	if err := readModelAndStream(body, top, &info); err != nil {
		return Info{}, nil, err
	}
	n, err := promptBytes(body, top, []string{"messages"}, []string{"tools", "functions", "response_format"})
	if err != nil {
		return Info{}, nil, err
	}
	info.PromptTokens = EstimateTokens(n)

	r := rewriter{body: body}
	anySet := false
	for _, name := range []string{"max_tokens", "max_completion_tokens"} {
		res, err := capField(&r, top, []string{name}, clamp, false, name)
		if err != nil {
			return Info{}, nil, err
		}
		info.MaxTokens = lowest(info.MaxTokens, res)
		if res.present || res.after > 0 {
			// Even an explicit 0 counts as set: adding the other field
			// next to it would make some servers reject the pair.
			anySet = true
		}
	}
	if clamp > 0 && !anySet {
		if _, err := capField(&r, top, []string{"max_completion_tokens"}, clamp, true, "max_completion_tokens"); err != nil {
			return Info{}, nil, err
		}
		info.MaxTokens = clamp
	}

	if info.Stream {
		asked, err := askUsage(&r, top)
		if err != nil {
			return Info{}, nil, err
		}
		info.AskedUsage = asked
	}
	return info, r.apply(), nil
}

// askUsage makes sure stream_options.include_usage is true and reports
// whether the app had set it itself.
func askUsage(r *rewriter, top object) (bool, error) {
	b := r.body
	so, found, err := top.find("stream_options")
	if err != nil {
		return false, err
	}
	switch {
	case !found:
		r.insert(top, "stream_options", []byte(`{"include_usage":true}`))
		return false, nil
	case isNull(b, so):
		r.replace(so, []byte(`{"include_usage":true}`))
		return false, nil
	case b[so.val] != '{':
		return false, errors.New(`field "stream_options" must be an object`)
	}
	obj, ok := parseObject(b, so.val)
	if !ok {
		return false, errMalformed
	}
	iu, found, err := obj.find("include_usage")
	if err != nil {
		return false, err
	}
	switch {
	case !found:
		r.insert(obj, "include_usage", []byte("true"))
	case string(b[iu.val:iu.end]) == "true":
		return true, nil
	default:
		r.replace(iu, []byte("true"))
	}
	return false, nil
}

// OpenAIEmbeddings inspects an embeddings request. input may be a string,
// an array of strings, or pre-tokenized (an array of token ids, or an array
// of such arrays), in which case the count is exact. Each string is
// estimated on its own because each is a separate sequence to the model.
func OpenAIEmbeddings(body []byte) (Info, error) {
	top, err := parseBody(body)
	if err != nil {
		return Info{}, err
	}
	var info Info
	if err := readModelAndStream(body, top, &info); err != nil {
		return Info{}, err
	}
	in, found, err := top.find("input")
	if err != nil {
		return Info{}, err
	}
	if found {
		info.PromptTokens = embedTokens(body, in.val)
	}
	return info, nil
}

func embedTokens(b []byte, i int) int64 {
	if i >= len(b) {
		return 0
	}
	switch c := b[i]; {
	case c == '"':
		return EstimateTokens(stringEnd(b, i) - i - 2)
	case c == '[':
		var n int64
		eachElement(b, i, func(val, _ int) { n += embedTokens(b, val) })
		return n
	case c == '-' || (c >= '0' && c <= '9'):
		return 1 // one token id
	}
	return 0
}

// BedrockConverse inspects a Converse or ConverseStream request (the model
// and whether it streams are in the URL, not the body). The clamp applies to
// inferenceConfig.maxTokens, which every Converse model understands, so it
// is added when absent.
func BedrockConverse(body []byte, clamp int64) (Info, []byte, error) {
	top, err := parseBody(body)
	if err != nil {
		return Info{}, nil, err
	}
	var info Info
	n, err := promptBytes(body, top, []string{"messages", "system"}, []string{"toolConfig"})
	if err != nil {
		return Info{}, nil, err
	}
	info.PromptTokens = EstimateTokens(n)
	r := rewriter{body: body}
	res, err := capField(&r, top, []string{"inferenceConfig", "maxTokens"}, clamp, true, "inferenceConfig.maxTokens")
	if err != nil {
		return Info{}, nil, err
	}
	info.MaxTokens = res.after
	return info, r.apply(), nil
}

// invokeLimits are the max-output fields of the model families InvokeModel
// serves: Anthropic, Mistral, Cohere and OpenAI-style bodies (max_tokens),
// Meta Llama (max_gen_len), AI21 (maxTokens), OpenAI-style
// (max_completion_tokens), Amazon Titan (textGenerationConfig.maxTokenCount)
// and Amazon Nova (inferenceConfig.max_new_tokens).
var invokeLimits = [][]string{
	{"max_tokens"},
	{"max_gen_len"},
	{"maxTokens"},
	{"max_completion_tokens"},
	{"textGenerationConfig", "maxTokenCount"},
	{"inferenceConfig", "max_new_tokens"},
}

var invokeLimitNames = []string{
	"max_tokens", "max_gen_len", "maxTokens", "max_completion_tokens",
	"textGenerationConfig.maxTokenCount", "inferenceConfig.max_new_tokens",
}

// BedrockInvoke inspects an InvokeModel request, whose body is the model
// family's native format. Every known max-output field that is present is
// lowered to the clamp. A missing one is added only for Anthropic bodies
// (recognised by anthropic_version), where max_tokens is part of the schema:
// Bedrock rejects fields a model's schema does not define, so guessing the
// field for other families would turn a clamp into a failed request. In that
// case MaxTokens stays 0 and the model's own default applies.
func BedrockInvoke(body []byte, clamp int64) (Info, []byte, error) {
	top, err := parseBody(body)
	if err != nil {
		return Info{}, nil, err
	}
	var info Info
	n, err := promptBytes(body, top,
		[]string{"prompt", "inputText", "message", "messages", "system", "chat_history", "texts", "inputs"},
		[]string{"tools", "tool_config"})
	if err != nil {
		return Info{}, nil, err
	}
	info.PromptTokens = EstimateTokens(n)
	_, anthropic, err := top.find("anthropic_version")
	if err != nil {
		return Info{}, nil, err
	}
	r := rewriter{body: body}
	for i, path := range invokeLimits {
		create := anthropic && i == 0
		res, err := capField(&r, top, path, clamp, create, invokeLimitNames[i])
		if err != nil {
			return Info{}, nil, err
		}
		info.MaxTokens = lowest(info.MaxTokens, res)
	}
	return info, r.apply(), nil
}

// SearchCap caps the numeric field at a dotted path (e.g. "limit",
// "params.top_k") to limit and returns the new body and the value the
// request asked for (0 when absent). Unlike OpenSearchCap it never adds the
// field: for an arbitrary search API the guard cannot know that the field
// belongs at the top level of every request, and the backend's default
// applies. An empty body is returned as is; limit <= 0 only reads.
func SearchCap(body []byte, field string, limit int) ([]byte, int, error) {
	if len(body) == 0 || field == "" {
		return body, 0, nil
	}
	top, err := parseBody(body)
	if err != nil {
		return nil, 0, err
	}
	r := rewriter{body: body}
	res, err := capField(&r, top, splitPath(field), int64(limit), false, field)
	if err != nil {
		return nil, 0, err
	}
	return r.apply(), saturateInt(res.requested), nil
}

// OpenSearchCap caps an OpenSearch _search request: "size" (set when absent,
// since OpenSearch would otherwise use its default of 10, which may be above
// the cap) and k of every query.knn.<field>, since a k-NN query returns up
// to k hits per shard before size applies. An empty body becomes
// {"size":limit}. limit <= 0 changes nothing.
func OpenSearchCap(body []byte, limit int) ([]byte, error) {
	if limit <= 0 {
		return body, nil
	}
	if skipSpace(body, 0) == len(body) {
		return []byte(`{"size":` + strconv.Itoa(limit) + `}`), nil
	}
	top, err := parseBody(body)
	if err != nil {
		return nil, err
	}
	r := rewriter{body: body}
	if _, err := capField(&r, top, []string{"size"}, int64(limit), true, "size"); err != nil {
		return nil, err
	}
	if err := capKNN(&r, top, int64(limit)); err != nil {
		return nil, err
	}
	return r.apply(), nil
}

func capKNN(r *rewriter, top object, limit int64) error {
	b := r.body
	q, found, err := top.find("query")
	if err != nil || !found || b[q.val] != '{' {
		return err
	}
	query, ok := parseObject(b, q.val)
	if !ok {
		return errMalformed
	}
	k, found, err := query.find("knn")
	if err != nil || !found || b[k.val] != '{' {
		return err
	}
	knn, ok := parseObject(b, k.val)
	if !ok {
		return errMalformed
	}
	for _, f := range knn.members {
		if b[f.val] != '{' {
			continue
		}
		field, ok := parseObject(b, f.val)
		if !ok {
			return errMalformed
		}
		if _, err := capField(r, field, []string{"k"}, limit, false, "query.knn.k"); err != nil {
			return err
		}
	}
	return nil
}

// jsonValid is json.Valid; named so the one place that decides validity is
// easy to find.
func jsonValid(b []byte) bool { return json.Valid(b) }

func splitPath(dotted string) []string { return strings.Split(dotted, ".") }

func saturateInt(v int64) int {
	if v > math.MaxInt {
		return math.MaxInt
	}
	return int(v)
}

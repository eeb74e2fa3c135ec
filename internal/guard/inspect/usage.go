package inspect

import (
	"encoding/json"
	"strconv"
	"strings"
)

// UsageFields names the members AnswerUsage reads from a provider's answer.
type UsageFields struct {
	// In and Out are the input and output token counts inside the top-level
	// "usage" object.
	In, Out string
	// Sibling, when set, is a top-level member returned raw (OpenAI
	// "choices", to tell the usage-only stream chunk).
	Sibling string
}

var (
	// OpenAIUsage is the usage of OpenAI-compatible chat, embeddings and
	// chunk answers.
	OpenAIUsage = UsageFields{In: "prompt_tokens", Out: "completion_tokens", Sibling: "choices"}
	// ConverseUsage is the usage of a Bedrock Converse answer.
	ConverseUsage = UsageFields{In: "inputTokens", Out: "outputTokens"}
)

// AnswerUsage reads the token counts of an answer's top-level "usage"
// member without decoding the rest of the answer: json.Valid checks the
// whole, the byte walker skips every other member (a chat answer is mostly
// its choices), and only the counts are parsed. It allocates nothing for
// answers as providers write them.
//
// The result is exactly what json.Unmarshal of data into
//
//	struct {
//		Sibling json.RawMessage `json:"<f.Sibling>"` // only when f.Sibling is set
//		Usage   *struct {
//			In  int64 `json:"<f.In>"`
//			Out int64 `json:"<f.Out>"`
//		} `json:"usage"`
//	}
//
// gives, with ok reporting err == nil && Usage != nil: invalid JSON, a
// non-object usage or a count that is not an int64 give ok false; a usage
// of null, or none, too. Keys match as encoding/json matches them (escapes
// decoded, then case-insensitively), a repeated "usage" merges into the
// previous one and a repeated sibling replaces it. FuzzAnswerUsage checks
// the equivalence on arbitrary input. Counts are returned as written
// (possibly negative); sibling aliases data.
func AnswerUsage(data []byte, f UsageFields) (in, out int64, sibling []byte, ok bool) {
	if !json.Valid(data) {
		return 0, 0, nil, false
	}
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		// null decodes to nothing; any other non-object is a type error.
		return 0, 0, nil, false
	}
	has, bad := false, false
	eachMember(data, i, func(key []byte, val, end int) bool {
		switch {
		case keyFolds(key, "usage"):
			switch data[val] {
			case 'n': // null sets the pointer to nil
				has, in, out = false, 0, 0
			case '{':
				if !has { // a new struct; a repeated usage decodes into the same one
					has, in, out = true, 0, 0
				}
				bad = !readUsageCounts(data, val, f, &in, &out)
			default:
				bad = true
			}
		case f.Sibling != "" && keyFolds(key, f.Sibling):
			sibling = data[val:end]
		}
		return !bad
	})
	if bad || !has {
		return 0, 0, nil, false
	}
	return in, out, sibling, true
}

// readUsageCounts applies the members of the usage object at data[i] to in
// and out as json.Unmarshal into int64 fields would: null leaves a count as
// it is, an integer replaces it, anything else is a type error (false).
func readUsageCounts(data []byte, i int, f UsageFields, in, out *int64) bool {
	bad := false
	eachMember(data, i, func(key []byte, val, end int) bool {
		var dst *int64
		switch {
		case keyFolds(key, f.In):
			dst = in
		case keyFolds(key, f.Out):
			dst = out
		default:
			return true
		}
		switch c := data[val]; {
		case c == 'n':
		case c == '-' || ('0' <= c && c <= '9'):
			n, err := strconv.ParseInt(string(data[val:end]), 10, 64)
			if err != nil { // a fraction, an exponent or out of range
				bad = true
			}
			*dst = n
		default:
			bad = true
		}
		return !bad
	})
	return !bad
}

// keyFolds reports whether the raw key (between its quotes) names the
// struct field name for encoding/json: its decoded text equals name under
// Unicode case folding (bytes.EqualFold, which is how json.Unmarshal matches
// a key to a field without an exact match, so "Usage" and "uſage" count too).
func keyFolds(raw []byte, name string) bool {
	for _, c := range raw {
		if c == '\\' || c >= 0x80 {
			return keyFoldsSlow(raw, name)
		}
	}
	if len(raw) != len(name) {
		return false
	}
	for i, c := range raw {
		n := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= n && n <= 'Z' {
			n += 'a' - 'A'
		}
		if c != n {
			return false
		}
	}
	return true
}

// keyFoldsSlow is keyFolds for keys with escapes or non-ASCII bytes, which
// providers do not write.
func keyFoldsSlow(raw []byte, name string) bool {
	var s string
	if json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &s) != nil {
		return false
	}
	return strings.EqualFold(s, name)
}

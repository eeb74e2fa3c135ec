package inspect

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// The fuzz targets check properties that must hold for any input:
//   - no panic;
//   - an accepted body comes back as valid JSON (the input was validated, so
//     a broken output would be the guard's fault);
//   - rewriting is idempotent: feeding the output back changes nothing and
//     returns the same slice, which also proves the clamp was applied fully;
//   - an independent parser (encoding/json) agrees that every clamped field
//     is within the clamp, and that all other top-level members are unchanged.

var requestSeeds = []string{
	`{}`,
	`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":4096,"stream":true}`,
	`{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:x"}}]}],"max_completion_tokens":1e30,"stream":true,"stream_options":{"include_usage":false}}`,
	`{"stream":true,"stream_options":null,"max_tokens":null}`,
	`{"max\u005ftokens":10,"stream":true,"stream_options":{}}`,
	`{"max_tokens":1,"max_tokens":2}`,
	`{"messages":[{"role":"user","content":[{"text":"abc"},{"image":{"source":{"bytes":"AA=="}}}]}],"system":[{"text":"s"}],"inferenceConfig":{"maxTokens":900}}`,
	`{"inferenceConfig":null}`,
	`{"anthropic_version":"bedrock-2023-05-31","max_tokens":8000,"messages":[]}`,
	`{"prompt":"x","max_gen_len":-1,"textGenerationConfig":{"maxTokenCount":5000},"inferenceConfig":{"max_new_tokens":1.5}}`,
	`{"input":["ab",[1,2,3],"c"],"model":"e"}`,
	`{"size":100,"query":{"knn":{"v":{"vector":[1],"k":50}}},"params":{"top_k":9}}`,
	` { "a" : [ 1 , { "b" : "\"}" } ] } `,
	`[1]`,
	`{"a":`,
	``,
}

func FuzzOpenAIChat(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s), int64(100))
		f.Add([]byte(s), int64(0))
	}
	f.Fuzz(func(t *testing.T, body []byte, clamp int64) {
		checkRewrite(t, OpenAIChat, body, clamp, []string{"max_tokens", "max_completion_tokens"}, []string{"stream_options"})
		info, out, err := OpenAIChat(body, clamp)
		if err == nil && info.Stream {
			var v struct {
				StreamOptions struct {
					IncludeUsage bool `json:"include_usage"`
				} `json:"stream_options"`
			}
			if err := json.Unmarshal(out, &v); err != nil || !v.StreamOptions.IncludeUsage {
				t.Fatalf("stream request without include_usage after rewrite: %s", out)
			}
		}
	})
}

func FuzzBedrockConverse(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s), int64(100))
	}
	f.Fuzz(func(t *testing.T, body []byte, clamp int64) {
		checkRewrite(t, BedrockConverse, body, clamp, nil, []string{"inferenceConfig"})
	})
}

func FuzzBedrockInvoke(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s), int64(100))
	}
	f.Fuzz(func(t *testing.T, body []byte, clamp int64) {
		checkRewrite(t, BedrockInvoke, body, clamp,
			[]string{"max_tokens", "max_gen_len", "maxTokens", "max_completion_tokens"},
			[]string{"textGenerationConfig", "inferenceConfig"})
	})
}

func FuzzOpenAIEmbeddings(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		info, err := OpenAIEmbeddings(body)
		if err == nil && !json.Valid(body) {
			t.Fatalf("accepted invalid JSON")
		}
		if info.PromptTokens < 0 {
			t.Fatalf("negative estimate %d", info.PromptTokens)
		}
	})
}

func FuzzSearchCap(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s), "size", 10)
		f.Add([]byte(s), "params.top_k", 3)
	}
	f.Fuzz(func(t *testing.T, body []byte, field string, limit int) {
		out, _, err := SearchCap(body, field, limit)
		if err != nil {
			return
		}
		if len(body) == 0 || field == "" {
			if !sameSlice(body, out) {
				t.Fatalf("empty input changed")
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("output is not valid JSON: %q", out)
		}
		again, _, err := SearchCap(out, field, limit)
		if err != nil || !sameSlice(out, again) {
			t.Fatalf("not idempotent: err=%v\nfirst:  %s\nsecond: %s", err, out, again)
		}
		if limit > 0 && !strings.Contains(field, ".") {
			assertAtMost(t, out, []string{field}, int64(limit))
		}
		assertOthersKept(t, body, out, []string{strings.Split(field, ".")[0]})
	})
}

func FuzzOpenSearchCap(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s), 10)
	}
	f.Fuzz(func(t *testing.T, body []byte, limit int) {
		out, err := OpenSearchCap(body, limit)
		if err != nil {
			return
		}
		if limit <= 0 {
			if !sameSlice(body, out) {
				t.Fatalf("no limit but body changed")
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("output is not valid JSON: %q", out)
		}
		again, err := OpenSearchCap(out, limit)
		if err != nil || !sameSlice(out, again) {
			t.Fatalf("not idempotent: err=%v\nfirst:  %s\nsecond: %s", err, out, again)
		}
		assertAtMost(t, out, []string{"size"}, int64(limit))
		assertOthersKept(t, body, out, []string{"size", "query"})
	})
}

func checkRewrite(t *testing.T, fn func([]byte, int64) (Info, []byte, error), body []byte, clamp int64, limits, nestedTouched []string) {
	t.Helper()
	info, out, err := fn(body, clamp)
	if err != nil {
		if len(out) != 0 {
			t.Fatalf("body returned with an error")
		}
		return
	}
	if !json.Valid(body) {
		t.Fatalf("accepted invalid JSON")
	}
	if !json.Valid(out) {
		t.Fatalf("output is not valid JSON: %q", out)
	}
	if info.PromptTokens < 0 || info.MaxTokens < 0 {
		t.Fatalf("negative counts %+v", info)
	}
	if clamp > 0 && info.MaxTokens > clamp {
		t.Fatalf("MaxTokens %d above clamp %d", info.MaxTokens, clamp)
	}
	info2, again, err := fn(out, clamp)
	if err != nil || !sameSlice(out, again) {
		t.Fatalf("not idempotent: err=%v\nfirst:  %s\nsecond: %s", err, out, again)
	}
	if info2.MaxTokens != info.MaxTokens || info2.PromptTokens != info.PromptTokens {
		t.Fatalf("second pass disagrees: %+v vs %+v", info, info2)
	}
	if clamp > 0 {
		assertAtMost(t, out, limits, clamp)
	}
	assertOthersKept(t, body, out, append(append([]string(nil), limits...), nestedTouched...))
}

// assertAtMost decodes out with encoding/json and checks that every listed
// top-level field that holds a non-negative number is at most limit.
func assertAtMost(t *testing.T, out []byte, fields []string, limit int64) {
	t.Helper()
	var m map[string]json.RawMessage
	if json.Unmarshal(out, &m) != nil {
		return
	}
	for _, f := range fields {
		raw, ok := m[f]
		if !ok {
			continue
		}
		var n float64
		if json.Unmarshal(raw, &n) != nil || n < 0 {
			continue
		}
		if n > float64(limit) {
			t.Fatalf("field %q = %v after capping to %d: %s", f, n, limit, out)
		}
	}
}

// assertOthersKept checks that the rewrite touched nothing but the given
// top-level members: every other member is present with the same value.
func assertOthersKept(t *testing.T, in, out []byte, touched []string) {
	t.Helper()
	var a, b map[string]json.RawMessage
	if json.Unmarshal(in, &a) != nil {
		return
	}
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatalf("output does not decode: %v", err)
	}
	skip := map[string]bool{}
	for _, f := range touched {
		skip[f] = true
	}
	for k, v := range a {
		if skip[k] {
			continue
		}
		if !bytes.Equal(v, b[k]) {
			t.Fatalf("member %q changed: %s -> %s", k, v, b[k])
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok && !skip[k] {
			t.Fatalf("unexpected member %q added", k)
		}
	}
}

// FuzzTextWalk checks the single-pass prompt walker against the plain value
// scanner: on any valid JSON both must stop exactly at the end of the value,
// or the walker would be counting text from outside the field it was given.
func FuzzTextWalk(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		i := skipSpace(b, 0)
		n, end := textWalk(b, i)
		if want := valueEnd(b, i); end != want {
			t.Fatalf("textWalk ended at %d, valueEnd at %d", end, want)
		}
		if skipSpace(b, end) != len(b) {
			t.Fatalf("value ends at %d of %d with more than space after it", end, len(b))
		}
		if n < 0 || n > len(b) {
			t.Fatalf("text bytes %d out of range for %d bytes", n, len(b))
		}
	})
}

package inspect

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// usageResult is what AnswerUsage returns, for comparisons.
type usageResult struct {
	In, Out int64
	Sibling string
	OK      bool
}

func answerUsage(data []byte, f UsageFields) usageResult {
	in, out, sib, ok := AnswerUsage(data, f)
	return usageResult{in, out, string(sib), ok}
}

// unmarshalUsage is the reference AnswerUsage must equal: json.Unmarshal of
// the whole answer (the guard's implementation before AnswerUsage).
func unmarshalUsage(data []byte, f UsageFields) usageResult {
	switch f {
	case OpenAIUsage:
		var v struct {
			Choices json.RawMessage `json:"choices"`
			Usage   *struct {
				PromptTokens     int64 `json:"prompt_tokens"`
				CompletionTokens int64 `json:"completion_tokens"`
			} `json:"usage"`
		}
		if json.Unmarshal(data, &v) != nil || v.Usage == nil {
			return usageResult{}
		}
		return usageResult{v.Usage.PromptTokens, v.Usage.CompletionTokens, string(v.Choices), true}
	case ConverseUsage:
		var v struct {
			Usage *struct {
				InputTokens  int64 `json:"inputTokens"`
				OutputTokens int64 `json:"outputTokens"`
			} `json:"usage"`
		}
		if json.Unmarshal(data, &v) != nil || v.Usage == nil {
			return usageResult{}
		}
		return usageResult{v.Usage.InputTokens, v.Usage.OutputTokens, "", true}
	}
	panic("unknown usage fields")
}

// chatAnswer is a non-streamed chat answer of about 1 KB, usage last, as
// the benchmark's simulator writes it.
var chatAnswer = []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1730000000,"model":"gpt-sim",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"` + strings.Repeat("token ", 140) +
	`"},"finish_reason":"stop"}],"usage":{"prompt_tokens":120,"completion_tokens":130,"total_tokens":250}}`)

var converseAnswer = []byte(`{"output":{"message":{"role":"assistant","content":[{"text":"` + strings.Repeat("token ", 140) +
	`"}]}},"stopReason":"end_turn","usage":{"inputTokens":120,"outputTokens":130,"totalTokens":250},"metrics":{"latencyMs":412}}`)

func TestAnswerUsage(t *testing.T) {
	tests := []struct {
		name string
		f    UsageFields
		data string
		want usageResult
	}{
		{"chat answer", OpenAIUsage, string(chatAnswer), usageResult{120, 130, `[{"index":0,"message":{"role":"assistant","content":"` + strings.Repeat("token ", 140) + `"},"finish_reason":"stop"}]`, true}},
		{"usage first", OpenAIUsage, `{"usage":{"prompt_tokens":1,"completion_tokens":2},"choices":[]}`, usageResult{1, 2, `[]`, true}},
		{"usage-only chunk", OpenAIUsage, `{"choices": [ ] ,"usage": {"prompt_tokens": 9, "completion_tokens": 12}}`, usageResult{9, 12, `[ ]`, true}},
		{"embeddings", OpenAIUsage, `{"object":"list","data":[{"embedding":[0.1,-2e-3]}],"usage":{"prompt_tokens":8,"total_tokens":8}}`, usageResult{8, 0, "", true}},
		{"no usage", OpenAIUsage, `{"choices":[{"delta":{"content":"hi"}}]}`, usageResult{}},
		{"null usage", OpenAIUsage, `{"choices":[],"usage":null}`, usageResult{}},
		{"empty usage", OpenAIUsage, `{"usage":{}}`, usageResult{0, 0, "", true}},
		{"nested usage in choices only", OpenAIUsage, `{"choices":[{"message":{"usage":{"prompt_tokens":5}}}],"x":{"usage":{"prompt_tokens":6}}}`, usageResult{}},
		{"nested usage before the top-level one", OpenAIUsage, `{"choices":[{"usage":{"prompt_tokens":5,"completion_tokens":5}}],"usage":{"prompt_tokens":1,"completion_tokens":2}}`, usageResult{1, 2, `[{"usage":{"prompt_tokens":5,"completion_tokens":5}}]`, true}},
		{"usage text in strings", OpenAIUsage, `{"choices":[{"message":{"content":"\"usage\":{\"prompt_tokens\":7}"}}],"note":"usage"}`, usageResult{}},
		{"usage as a value", OpenAIUsage, `{"kind":"usage","usage":{"prompt_tokens":3,"completion_tokens":4}}`, usageResult{3, 4, "", true}},
		{"escaped quote before usage", OpenAIUsage, `{"a":"x\\\"","usage":{"prompt_tokens":3,"completion_tokens":4}}`, usageResult{3, 4, "", true}},
		{"escaped key", OpenAIUsage, `{"us\u0061ge":{"prompt\u005ftokens":3,"completion_tokens":4}}`, usageResult{3, 4, "", true}},
		{"key case folds", OpenAIUsage, `{"Usage":{"PROMPT_TOKENS":3,"Completion_Tokens":4},"CHOICES":[]}`, usageResult{3, 4, "[]", true}},
		{"key folds through long s", OpenAIUsage, `{"uſage":{"prompt_tokens":3}}`, usageResult{3, 0, "", true}},
		{"repeated usage merges", OpenAIUsage, `{"usage":{"prompt_tokens":1,"completion_tokens":2},"usage":{"prompt_tokens":5}}`, usageResult{5, 2, "", true}},
		{"null after usage clears it", OpenAIUsage, `{"usage":{"prompt_tokens":1},"usage":null}`, usageResult{}},
		{"null count keeps the value", OpenAIUsage, `{"usage":{"prompt_tokens":1,"prompt_tokens":null}}`, usageResult{1, 0, "", true}},
		{"repeated choices, last wins", OpenAIUsage, `{"choices":[1],"usage":{},"choices":[]}`, usageResult{0, 0, "[]", true}},
		{"negative count", OpenAIUsage, `{"usage":{"prompt_tokens":-5,"completion_tokens":2}}`, usageResult{-5, 2, "", true}},
		{"fraction", OpenAIUsage, `{"usage":{"prompt_tokens":1.5}}`, usageResult{}},
		{"exponent", OpenAIUsage, `{"usage":{"prompt_tokens":1e3}}`, usageResult{}},
		{"overflow", OpenAIUsage, `{"usage":{"prompt_tokens":9223372036854775808}}`, usageResult{}},
		{"count as string", OpenAIUsage, `{"usage":{"prompt_tokens":"3"}}`, usageResult{}},
		{"unknown member of any type", OpenAIUsage, `{"usage":{"prompt_tokens_details":{"cached_tokens":1},"total_tokens":"x"}}`, usageResult{0, 0, "", true}},
		{"usage not an object", OpenAIUsage, `{"usage":[1,2]}`, usageResult{}},
		{"top level array", OpenAIUsage, `[{"usage":{"prompt_tokens":1}}]`, usageResult{}},
		{"top level null", OpenAIUsage, `null`, usageResult{}},
		{"done marker", OpenAIUsage, `[DONE]`, usageResult{}},
		{"malformed", OpenAIUsage, `{"usage":{"prompt_tokens":1}`, usageResult{}},
		{"trailing garbage", OpenAIUsage, `{"usage":{"prompt_tokens":1}} x`, usageResult{}},
		{"whitespace around", OpenAIUsage, " \n{ \"usage\" :\t{ \"prompt_tokens\" : 1 } }\r\n", usageResult{1, 0, "", true}},
		{"converse answer", ConverseUsage, string(converseAnswer), usageResult{120, 130, "", true}},
		{"converse ignores choices", ConverseUsage, `{"choices":[],"usage":{"inputTokens":1,"outputTokens":2}}`, usageResult{1, 2, "", true}},
		{"converse nested usage only", ConverseUsage, `{"output":{"usage":{"inputTokens":1}}}`, usageResult{}},
		{"converse kelvin sign folds to k", ConverseUsage, `{"usage":{"inputToKens":1,"outputTo\u212aens":2}}`, usageResult{1, 2, "", true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := answerUsage([]byte(tc.data), tc.f)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("AnswerUsage mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(unmarshalUsage([]byte(tc.data), tc.f), got); diff != "" {
				t.Errorf("AnswerUsage differs from json.Unmarshal (-unmarshal +AnswerUsage):\n%s", diff)
			}
		})
	}
}

func TestAnswerUsageAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	for _, a := range []struct {
		data []byte
		f    UsageFields
	}{{chatAnswer, OpenAIUsage}, {converseAnswer, ConverseUsage}} {
		if n := testing.AllocsPerRun(10, func() { AnswerUsage(a.data, a.f) }); n != 0 {
			t.Errorf("AnswerUsage allocates %v times per call, want 0", n)
		}
	}
}

// FuzzAnswerUsage checks AnswerUsage against json.Unmarshal of the whole
// input, for both shapes.
func FuzzAnswerUsage(f *testing.F) {
	for _, s := range []string{
		string(chatAnswer),
		string(converseAnswer),
		`{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12}}`,
		`{"usage":{"prompt_tokens":1,"completion_tokens":2},"usage":{"prompt_tokens":5},"usage":null}`,
		`{"Usage":{"PROMPT_TOKENS":3,"outputtokens":4},"CHOICES":[ ]}`,
		`{"us\u0061ge":{"prompt\u005ftokens":3,"input\u0054okens":4}}`,
		`{"uſage":{"inputToKens":1}}`,
		`{"choices":[{"usage":{"prompt_tokens":5}}],"note":"\"usage\":{}"}`,
		`{"usage":{"prompt_tokens":1.5,"inputTokens":-0}}`,
		`{"usage":{"prompt_tokens":9223372036854775808}}`,
		`{"usage":[],"choices":null}`,
		`[{"usage":{}}]`,
		`null`,
		`{"usage":{"prompt_tokens":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, fields := range []UsageFields{OpenAIUsage, ConverseUsage} {
			got := answerUsage(data, fields)
			want := unmarshalUsage(data, fields)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("AnswerUsage(%q, %s) differs from json.Unmarshal (-unmarshal +AnswerUsage):\n%s", data, fields.In, diff)
			}
			if got.OK && got.Sibling != "" && !bytes.Contains(data, []byte(got.Sibling)) {
				t.Fatalf("sibling %q is not a part of the input", got.Sibling)
			}
		}
	})
}

// BenchmarkAnswerUsage reads the usage of a 1 KB chat answer and of a Converse answer.
// The Unmarshal variants are the guard's implementation before AnswerUsage (json.Unmarshal of
// the whole answer), as the baseline.
func BenchmarkAnswerUsage(b *testing.B) {
	for _, bc := range []struct {
		name string
		data []byte
		f    UsageFields
	}{{"chat", chatAnswer, OpenAIUsage}, {"converse", converseAnswer, ConverseUsage}} {
		b.Run(bc.name+"/scan", func(b *testing.B) {
			b.SetBytes(int64(len(bc.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, ok := AnswerUsage(bc.data, bc.f); !ok {
					b.Fatal("no usage")
				}
			}
		})
		b.Run(bc.name+"/unmarshal", func(b *testing.B) {
			b.SetBytes(int64(len(bc.data)))
			b.ReportAllocs()
			for b.Loop() {
				if !unmarshalUsage(bc.data, bc.f).OK {
					b.Fatal("no usage")
				}
			}
		})
	}
}

package sse

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
)

// chunkReader returns data in reads whose sizes come from the fuzzer, to
// put read boundaries everywhere (inside CRLF pairs, inside "data:").
type chunkReader struct {
	data  []byte
	sizes []byte
	i     int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := 1
	if len(r.sizes) > 0 {
		n = int(r.sizes[r.i%len(r.sizes)]) + 1
		r.i++
	}
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

type run struct {
	out  []byte
	data [][]byte
}

func relayRun(t *testing.T, src io.Reader, drop bool, eventCap int) run {
	var r run
	var out bytes.Buffer
	_, err := relayWith(&out, func() {}, src, func(d []byte) bool {
		r.data = append(r.data, bytes.Clone(d))
		return drop && len(d)%2 == 1
	}, nil, eventCap)
	if err != nil {
		t.Fatalf("Relay error on an in-memory stream: %v", err)
	}
	r.out = out.Bytes()
	return r
}

// FuzzRelay checks that the relay writes exactly what it received when it
// drops nothing, and that read boundaries never change what it writes, drops
// or inspects.
func FuzzRelay(f *testing.F) {
	seeds := []string{
		"data: {\"a\":1}\n\ndata: [DONE]\n\n",
		"data: one\r\n\r\ndata: two\r\n\r\n",
		"data: one\r\rdata: two\r\r",
		"event: x\ndata: a\ndata:b\ndata\n\n: keepalive\n\n",
		"data: " + usageOnly + "\n\n",
		"\n\n\r\n\r\r\n",
		"data: partial",
		"data: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n\ndata: b\n\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s), []byte{0}, uint16(64))
		f.Add([]byte(s), []byte{3, 0, 7}, uint16(1024))
	}
	f.Fuzz(func(t *testing.T, stream, sizes []byte, capMinus1 uint16) {
		m := int(capMinus1) + 1
		whole := relayRun(t, bytes.NewReader(stream), false, m)
		if !bytes.Equal(whole.out, stream) {
			t.Fatalf("output differs from input:\n in: %q\nout: %q", stream, whole.out)
		}
		split := relayRun(t, &chunkReader{data: stream, sizes: sizes}, false, m)
		if !bytes.Equal(split.out, stream) {
			t.Fatalf("split reads: output differs from input:\n in: %q\nout: %q", stream, split.out)
		}
		a := relayRun(t, bytes.NewReader(stream), true, m)
		b := relayRun(t, &chunkReader{data: stream, sizes: sizes}, true, m)
		if !bytes.Equal(a.out, b.out) {
			t.Fatalf("read boundaries changed the output:\nwhole: %q\nsplit: %q", a.out, b.out)
		}
		if len(a.data) != len(b.data) {
			t.Fatalf("read boundaries changed inspection: %q vs %q", a.data, b.data)
		}
		for i := range a.data {
			if !bytes.Equal(a.data[i], b.data[i]) {
				t.Fatalf("read boundaries changed inspection: %q vs %q", a.data, b.data)
			}
		}
		if len(a.out) > len(stream) {
			t.Fatalf("wrote more than received")
		}
	})
}

// openAIUsageUnmarshal is OpenAIUsage as it was before inspect.AnswerUsage:
// json.Unmarshal of the whole payload. OpenAIUsage must give the same.
func openAIUsageUnmarshal(data []byte) (in, out int64, usageOnly, ok bool) {
	if !bytes.Contains(data, []byte(`"usage"`)) {
		return 0, 0, false, false
	}
	var v struct {
		Choices json.RawMessage `json:"choices"`
		Usage   *struct {
			PromptTokens     int64 `json:"prompt_tokens"`
			CompletionTokens int64 `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(data, &v); err != nil || v.Usage == nil {
		return 0, 0, false, false
	}
	in = max(v.Usage.PromptTokens, 0)
	out = max(v.Usage.CompletionTokens, 0)
	choices := bytes.TrimSpace(v.Choices)
	if len(choices) >= 2 && choices[0] == '[' && len(bytes.TrimSpace(choices[1:len(choices)-1])) == 0 {
		usageOnly = true
	}
	return in, out, usageOnly, true
}

func FuzzOpenAIUsage(f *testing.F) {
	for _, s := range []string{
		usageOnly,
		`{"choices":[{"delta":{"content":"x"}}],"usage":{"prompt_tokens":3,"completion_tokens":1}}`,
		`{"usage":null}`,
		`{"usage":{"prompt_tokens":1e99}}`,
		`[DONE]`,
		`{"choices":[ ],"usage":{}}`,
		`{"choices":[{"usage":{"prompt_tokens":5}}],"Usage":{"prompt_tokens":-1},"CHOICES":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, out, only, ok := OpenAIUsage(data)
		if in < 0 || out < 0 {
			t.Fatalf("negative usage %d/%d", in, out)
		}
		if !ok && (in != 0 || out != 0 || only) {
			t.Fatalf("values reported without ok")
		}
		wi, wo, wonly, wok := openAIUsageUnmarshal(data)
		if in != wi || out != wo || only != wonly || ok != wok {
			t.Fatalf("OpenAIUsage(%q) = %d, %d, %v, %v; json.Unmarshal gives %d, %d, %v, %v",
				data, in, out, only, ok, wi, wo, wonly, wok)
		}
	})
}

package upstreamsim

import (
	"testing"
)

// The fuzz targets cover the request parsers, the only sim code that reads
// caller-controlled bytes. Seeds live in testdata/fuzz; run one with e.g.
// go test ./test/upstreamsim -run '^$' -fuzz FuzzParseModelRequest -fuzztime 30s

func FuzzParseModelRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":3,"stream":true,"stream_options":{"include_usage":true}}`))
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"text":"hello"}]}],"system":[{"text":"s"}],"inferenceConfig":{"maxTokens":5}}`))
	f.Add([]byte(`{"input":[[1,2],[3]],"encoding_format":"base64","dimensions":4}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parseModelRequest(body)
		if err != nil {
			return
		}
		if p.promptBytes < 0 || p.maxTokens < 0 || p.inputs < 1 {
			t.Fatalf("parseModelRequest(%q) = %+v", body, p)
		}
		if in := inputTokens(p.promptBytes); in < 1 || in > p.promptBytes/4+1 {
			t.Fatalf("inputTokens(%d) = %d", p.promptBytes, in)
		}
		if out, _ := outputTokens(p.maxTokens, defaultOutputTokens); out < 1 || out > defaultOutputTokens {
			t.Fatalf("outputTokens(%d) = %d", p.maxTokens, out)
		}
	})
}

func FuzzParseSearch(f *testing.F) {
	f.Add([]byte(`{"size":3,"query":{"knn":{"v":{"vector":[1],"k":5}}}}`), "")
	f.Add([]byte(``), "7")
	f.Add([]byte(`{"query":"q","top_k":4}`), "")
	f.Fuzz(func(t *testing.T, body []byte, size string) {
		if n, err := parseOpenSearch(body, size); err == nil && n < 0 {
			t.Fatalf("parseOpenSearch(%q, %q) = %d", body, size, n)
		}
		if n, err := parseGenericSearch(body); err == nil && n < 1 {
			t.Fatalf("parseGenericSearch(%q) = %d", body, n)
		}
	})
}

func FuzzMatchRoute(f *testing.F) {
	f.Add("/m/x/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fp/converse-stream")
	f.Add("/endpoints/e/invocations")
	f.Add("/r/kb/idx/_search")
	f.Fuzz(func(t *testing.T, path string) {
		rt, ok := matchRoute(path)
		if !ok {
			return
		}
		if rt.key == "" {
			t.Fatalf("matchRoute(%q) matched without a key", path)
		}
		needsName := rt.proto == protoBedrock || rt.proto == protoSageMaker || rt.proto == protoOpenSearch
		if needsName && rt.name == "" {
			t.Fatalf("matchRoute(%q) = %+v without a name", path, rt)
		}
	})
}

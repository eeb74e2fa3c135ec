package sagemaker

import (
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/breakwater-dev/breakwater/internal/guard/provider"
)

func FuzzSageMakerUsageTap(f *testing.F) {
	f.Add([]byte{0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 3)
	f.Add([]byte("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\n"), 7)
	f.Fuzz(func(t *testing.T, data []byte, chunk int) {
		if chunk < 1 {
			return
		}
		tap := newUsageTap(&chunkedReader{data: data, n: chunk})
		var out strings.Builder
		if _, err := io.Copy(&out, tap); err != nil {
			t.Fatal(err)
		}
		if out.String() != string(data) {
			t.Fatal("the tap changed the bytes")
		}
	})
}

// chunkedReader returns data n bytes at a time, as a network read might.
type chunkedReader struct {
	data []byte
	n    int
}

func (r *chunkedReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	k := min(r.n, len(p), len(r.data))
	copy(p, r.data[:k])
	r.data = r.data[k:]
	return k, nil
}

func TestRoute(t *testing.T) {
	tests := []struct {
		rest string
		want int
		ok   bool
	}{
		{"endpoints/e/invocations", Invoke, true},
		{"endpoints/e/invocations-response-stream", InvokeStream, true},
		{"endpoints/e/x/invocations", 0, false},
	}
	for _, tt := range tests {
		op, ok := Provider{}.Route(tt.rest)
		if ok != tt.ok || (ok && op.Kind != tt.want) {
			t.Errorf("Route(%q) = %v, %v; want %v, %v", tt.rest, op.Kind, ok, tt.want, tt.ok)
		}
	}
}

func TestUpstream(t *testing.T) {
	base, _ := url.Parse("http://127.0.0.1:9/prefix")
	op, _ := Provider{}.Route("endpoints/app/invocations-response-stream")
	u, _ := Provider{}.Upstream(op, &provider.Target{Base: base, EndpointName: "my-endpoint"}, "", nil)
	if got, want := u.String(), "http://127.0.0.1:9/prefix/endpoints/my-endpoint/invocations-response-stream"; got != want {
		t.Errorf("URL = %s, want %s", got, want)
	}
}

func TestUsageOpenAIFormat(t *testing.T) {
	got := Provider{}.Usage(provider.Operation{}, nil, []byte(`{"usage":{"prompt_tokens":-1,"completion_tokens":3}}`))
	if want := (provider.Usage{Out: 3, Seen: true}); got != want {
		t.Errorf("Usage = %+v, want %+v", got, want)
	}
}

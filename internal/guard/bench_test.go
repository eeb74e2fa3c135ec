package guard_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkOverhead compares a chat call straight to the simulator with the same call through
// the guard, JSON and streamed; the difference is the guard's cost per request.
func BenchmarkOverhead(b *testing.B) {
	h := newHarness(b, nil)
	direct := h.east.URL() + "/v1/chat/completions"
	viaGuard := h.srv.URL + "/m/gpt/v1/chat/completions"
	stream := `{"model":"m","stream":true,"messages":[{"role":"user","content":"hello there"}]}`
	cases := []struct{ name, url, body, auth string }{
		{"direct/json", direct, chatBody, "Bearer " + openAIKey},
		{"guard/json", viaGuard, chatBody, ""},
		{"direct/stream", direct, stream, "Bearer " + openAIKey},
		{"guard/stream", viaGuard, stream, ""},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodPost, c.url, strings.NewReader(c.body))
				if c.auth != "" {
					req.Header.Set("Authorization", c.auth)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}

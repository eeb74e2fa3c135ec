package upstreamsim

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// The benchmarks measure the sim's own cost per request over loopback, the
// floor under any guard benchmark that uses it.

func benchPost(b *testing.B, url, body string) {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	payload := []byte(body)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Post(url, "application/json", bytes.NewReader(payload))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

func BenchmarkOpenAIChat(b *testing.B) {
	sim, err := Start(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	benchPost(b, sim.URL()+"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hello world"}]}`)
}

func BenchmarkOpenAIChatStream(b *testing.B) {
	sim, err := Start(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	benchPost(b, sim.URL()+"/v1/chat/completions", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello world"}]}`)
}

func BenchmarkGenericSearch(b *testing.B) {
	sim, err := Start(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	benchPost(b, sim.URL()+"/search", `{"query":"q","top_k":10}`)
}

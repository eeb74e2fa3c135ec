package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/breakwater-dev/breakwater/internal/guardconfig"
	"github.com/breakwater-dev/breakwater/test/upstreamsim"
)

// TestListenersSpeakHTTP1AndCleartextHTTP2 runs the guard as its binary would and calls it the
// way Node's AWS SDK does (HTTP/2 with prior knowledge to an http:// URL) and the way most other
// clients do (HTTP/1.1, some asking for an h2c upgrade), on the same port.
func TestListenersSpeakHTTP1AndCleartextHTTP2(t *testing.T) {
	sim, err := upstreamsim.Start(upstreamsim.Options{APIKey: "sk-up", OutputTokens: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	// An upstream that sends one event and then waits until the app has read it: the test
	// fails (hangs to its deadline) if anything between them holds the first event back.
	firstRead := make(chan struct{})
	gated := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		chunk := func(content string) {
			fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","+
				"\"choices\":[{\"index\":0,\"delta\":{\"content\":%q}}]}\n\n", content)
			w.(http.Flusher).Flush()
		}
		chunk("first")
		select {
		case <-firstRead:
		case <-r.Context().Done():
			return
		}
		chunk("second")
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	defer gated.Close()

	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte("sk-up"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(guardconfig.Config{
		APIVersion: guardconfig.APIVersion,
		Workload:   guardconfig.Workload{Namespace: "shop", Name: "assistant"},
		Endpoints: []guardconfig.Endpoint{
			{Name: "gpt", Provider: guardconfig.OpenAI, Targets: []guardconfig.Target{{Name: "sim", Weight: 100, URL: sim.URL() + "/v1", APIKeyFile: keyFile}}},
			{Name: "gated", Provider: guardconfig.OpenAI, Targets: []guardconfig.Target{{Name: "gated", Weight: 100, URL: gated.URL + "/v1", APIKeyFile: keyFile}}},
		},
	})
	cfgPath := filepath.Join(dir, "guard.json")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan [2]string, 1)
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"--config-file", cfgPath, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"},
			io.Discard, func(app, admin string) { addrs <- [2]string{app, admin} })
	}()
	defer func() {
		cancel()
		<-exit
	}()
	a := <-addrs
	app, admin := "http://"+a[0], "http://"+a[1]
	waitFor(t, func() bool { return get(t, admin+"/readyz") == 200 })

	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	h2 := &http.Client{Transport: &http.Transport{Protocols: &h2c}}
	defer h2.CloseIdleConnections()
	post := func(url, body string) *http.Response {
		t.Helper()
		resp, err := h2.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST %s over h2c: %v", url, err)
		}
		if resp.ProtoMajor != 2 {
			t.Fatalf("POST %s answered over %s, want HTTP/2", url, resp.Proto)
		}
		return resp
	}

	t.Run("h2c JSON", func(t *testing.T) {
		resp := post(app+"/m/gpt/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"usage"`) {
			t.Fatalf("chat over h2c: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("h2c stream delivers the first event at once", func(t *testing.T) {
		resp := post(app+"/m/gated/v1/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("stream over h2c: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		lines := bufio.NewReader(resp.Body)
		line, err := lines.ReadString('\n')
		if err != nil || !strings.Contains(line, `"first"`) {
			t.Fatalf("first line %q, %v: want the first event before the upstream sends more", line, err)
		}
		close(firstRead)
		rest, err := io.ReadAll(lines)
		if err != nil || !strings.Contains(string(rest), `"second"`) || !strings.Contains(string(rest), "data: [DONE]") {
			t.Fatalf("rest of the stream %q, %v", rest, err)
		}
		if got := resp.Trailer.Get("X-Breakwater-Reason"); got != "" {
			t.Errorf("a stream that ended well carries reason %q", got)
		}
	})

	t.Run("admin over h2c", func(t *testing.T) {
		resp, err := h2.Get(admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || !strings.Contains(string(body), "breakwater_guard_requests_total") {
			t.Fatalf("/metrics over h2c: %s, %d bytes", resp.Proto, len(body))
		}
	})

	t.Run("h2c upgrade request is served over HTTP/1.1", func(t *testing.T) {
		conn, err := net.Dial("tcp", a[0])
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
		// What curl --http2 sends to an http:// URL.
		fmt.Fprintf(conn, "POST /m/gpt/v1/chat/completions HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade, HTTP2-Settings\r\n"+
			"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			a[0], len(body), body)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != 1 || !strings.Contains(string(answer), `"usage"`) {
			t.Fatalf("upgrade request: %s %d %s, want HTTP/1.1 200 with the answer", resp.Proto, resp.StatusCode, answer)
		}
	})

	t.Run("header limit", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, app+"/m/gpt/v1/chat/completions", strings.NewReader(`{}`))
		// net/http reads a little past the limit before it refuses (its buffer's slack).
		req.Header.Set("X-Padding", strings.Repeat("a", maxHeaderBytes+8<<10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("request with %d bytes of headers: %d, want 431", maxHeaderBytes+8<<10, resp.StatusCode)
		}
	})
}

package guard_test

import (
	"encoding/json"
	"testing"

	"github.com/breakwater-dev/breakwater/internal/guard"
)

// TestNoAWSCredentials: without credentials the guard answers at once instead of sending an unsigned request.
func TestNoAWSCredentials(t *testing.T) {
	h := newHarnessWith(t, func(o *guard.Options) { o.AWSCredentials = nil }, nil)
	status, hdr, _ := h.post("/m/claude/model/x/converse", converseBody)
	if status != 503 || hdr.Get(guard.HeaderReason) != guard.ReasonCredentials || hdr.Get("X-Amzn-ErrorType") != "ServiceUnavailableException" {
		t.Errorf("got %d %q %q, want 503 credentials_unavailable ServiceUnavailableException", status,
			hdr.Get(guard.HeaderReason), hdr.Get("X-Amzn-ErrorType"))
	}
	if n := sum(h.east.Stats().Requests) + sum(h.west.Stats().Requests); n != 0 {
		t.Errorf("upstreams saw %d requests", n)
	}
}

// TestMissingKeyFileRefused: a config whose key file cannot be read is refused like any bad config.
func TestMissingKeyFileRefused(t *testing.T) {
	h := newHarness(t, nil)
	c := h.baseConfig()
	c.Endpoints[1].Targets[0].APIKeyFile = "/nonexistent/api-key"
	data, _ := json.Marshal(c)
	err := h.g.Load(data)
	if err == nil || err.Error() != "endpoints[1].targets[0]: apiKeyFile: read /nonexistent/api-key: open /nonexistent/api-key: no such file or directory" {
		t.Errorf("Load error = %v", err)
	}
	if status, _, _ := h.post("/m/gpt/v1/chat/completions", chatBody); status != 200 {
		t.Errorf("status %d: the last good config must keep serving", status)
	}
	if got := h.value(h.m.ConfigReloads.WithLabelValues("failure")); got != 1 {
		t.Errorf("config_reloads_total{failure} = %g, want 1", got)
	}
}

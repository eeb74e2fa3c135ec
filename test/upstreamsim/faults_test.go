package upstreamsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
)

func TestFires(t *testing.T) {
	tests := []struct {
		rate float64
		n    int
		want string // which of n requests fire, '1' for a hit
	}{
		{0, 8, "00000000"},
		{1, 8, "11111111"},
		{0.5, 8, "01010101"},
		{0.25, 8, "00010001"},
		{0.1, 20, "00000000010000000001"},
		{-1, 4, "0000"},
		{2, 4, "1111"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.rate), func(t *testing.T) {
			var n atomic.Int64
			var got strings.Builder
			for range tt.n {
				if fires(&n, tt.rate) {
					got.WriteByte('1')
				} else {
					got.WriteByte('0')
				}
			}
			if got.String() != tt.want {
				t.Errorf("fires(%v) = %s, want %s", tt.rate, got.String(), tt.want)
			}
		})
	}
}

// TestFractionalThrottle checks exact counts with the real client: half of
// ten requests are throttled, and SetFaults restarts the sequence.
func TestFractionalThrottle(t *testing.T) {
	sim := startSim(t, Options{})
	client := bedrockClient(sim.URL(), testRegion, "a", "b")
	var pattern strings.Builder
	for round := range 2 {
		sim.SetFaults(Faults{ThrottleRate: 0.5})
		for range 4 {
			_, err := client.Converse(testCtx(t), converseInput(claudeID, 1))
			var te *types.ThrottlingException
			switch {
			case err == nil:
				pattern.WriteByte('.')
			case errors.As(err, &te):
				pattern.WriteByte('T')
			default:
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
	if got := pattern.String(); got != ".T.T.T.T" {
		t.Errorf("pattern = %s, want .T.T.T.T", got)
	}
	if st := sim.Stats(); st.Throttled != 4 || st.Requests[RouteBedrockConverse] != 8 {
		t.Errorf("stats: throttled %d of %d", st.Throttled, st.Requests[RouteBedrockConverse])
	}
}

// TestLatency: with a latency far longer than the test, the call returns
// only when the client gives up, and the sim saw the request.
func TestLatency(t *testing.T) {
	sim := startSim(t, Options{})
	sim.SetFaults(Faults{Latency: time.Hour})
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() {
		_, err := openAIClient(sim.URL(), "k").Chat.Completions.New(ctx, chatParams(1))
		done <- err
	}()
	eventually(t, "the request to arrive", func() bool { return sim.Stats().Requests[RouteOpenAIChat] == 1 })
	if !notWithin(done) {
		t.Fatal("answer came before the latency passed")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
}

// TestStreamTiming covers FirstTokenDelay, TokenInterval and
// StallAfterEvents through the real Bedrock client: in each case the
// headers arrive (the call returns), some events arrive, and the next one
// does not until the client goes away.
func TestStreamTiming(t *testing.T) {
	sim := startSim(t, Options{})
	client := bedrockClient(sim.URL(), testRegion, "a", "b")
	tests := []struct {
		name       string
		faults     Faults
		wantDeltas int // content events that arrive before the stream goes quiet
		wantStalls int64
	}{
		{"first token delay", Faults{FirstTokenDelay: time.Hour}, 0, 0},
		{"token interval", Faults{TokenInterval: time.Hour}, 1, 0},
		{"stall after 3", Faults{StallAfterEvents: 3}, 3, 1},
		{"stall after the last token", Faults{StallAfterEvents: 16}, 16, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim.ResetStats()
			sim.SetFaults(tt.faults)
			defer sim.SetFaults(Faults{})
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			in := converseInput(claudeID, 0)
			out, err := client.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: in.ModelId, Messages: in.Messages})
			if err != nil {
				t.Fatalf("ConverseStream (headers should arrive before any delay): %v", err)
			}
			stream := out.GetStream()
			defer stream.Close()
			events := stream.Events()
			deltas := 0
			for deltas < tt.wantDeltas {
				ev, ok := <-events
				if !ok {
					t.Fatalf("stream ended after %d deltas: %v", deltas, stream.Err())
				}
				if _, isDelta := ev.(*types.ConverseStreamOutputMemberContentBlockDelta); isDelta {
					deltas++
				}
			}
			if !notWithin(events) {
				t.Fatalf("an event arrived while the stream should be quiet (err %v)", stream.Err())
			}
			if tt.wantStalls > 0 {
				eventually(t, "the stall to be counted", func() bool { return sim.Stats().Stalls == tt.wantStalls })
			}
			cancel()
			for range events {
			}
			if st := sim.Stats(); st.OutputTokens != 0 {
				t.Errorf("an unfinished stream counted %d served tokens", st.OutputTokens)
			}
		})
	}
}

// TestOpenAIStall checks the stall through the OpenAI client: it reads the
// given number of tokens, then nothing until it gives up.
func TestOpenAIStall(t *testing.T) {
	sim := startSim(t, Options{})
	sim.SetFaults(Faults{StallAfterEvents: 2})
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	stream := openAIClient(sim.URL(), "k").Chat.Completions.NewStreaming(ctx, chatParams(0))
	defer stream.Close()
	var content strings.Builder
	for content.String() != "tok0 tok1" {
		if !stream.Next() {
			t.Fatalf("stream ended early: %v", stream.Err())
		}
		for _, c := range stream.Current().Choices {
			content.WriteString(c.Delta.Content)
		}
	}
	next := make(chan bool, 1)
	go func() { next <- stream.Next() }()
	if !notWithin(next) {
		t.Fatal("a chunk arrived after the stall point")
	}
	cancel()
	if <-next {
		t.Error("stream continued after the client went away")
	}
}

func TestReset(t *testing.T) {
	sim := startSim(t, Options{})
	sim.SetFaults(Faults{ResetRate: 1})
	t.Run("raw http", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(testCtx(t), http.MethodPost, sim.URL()+"/search", strings.NewReader(`{}`))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("got HTTP %d, want a connection error", resp.StatusCode)
		}
	})
	t.Run("bedrock client", func(t *testing.T) {
		_, err := bedrockClient(sim.URL(), testRegion, "a", "b").Converse(testCtx(t), converseInput(claudeID, 1))
		var apiErr smithy.APIError
		if err == nil || errors.As(err, &apiErr) {
			t.Fatalf("error = %v, want a transport error", err)
		}
	})
	if got := sim.Stats().Resets; got != 2 {
		t.Errorf("resets = %d, want 2", got)
	}
}

func TestOversizedBody(t *testing.T) {
	sim := startSim(t, Options{})
	sim.SetFaults(Faults{OversizedBody: 64 << 10})
	t.Run("generic search", func(t *testing.T) {
		status, _, body := post(t, sim.URL()+"/search", `{"query":"q","top_k":1}`, nil)
		var res struct {
			Results []genericResult `json:"results"`
		}
		if status != 200 || len(body) < 64<<10 || json.Unmarshal(body, &res) != nil || len(res.Results) != 1 {
			t.Errorf("status %d, %d bytes, results %d", status, len(body), len(res.Results))
		}
	})
	t.Run("converse still parses", func(t *testing.T) {
		out, err := bedrockClient(sim.URL(), testRegion, "a", "b").Converse(testCtx(t), converseInput(claudeID, 2))
		if err != nil || aws.ToInt32(out.Usage.OutputTokens) != 2 {
			t.Errorf("Converse with padding: %v", err)
		}
	})
}

func TestPad(t *testing.T) {
	tests := []struct {
		in   string
		size int
	}{
		{`{"a":1}`, 0},
		{`{"a":1}`, 5},
		{`{"a":1}`, 100},
		{`{}`, 50},
		{`[1]`, 50},
	}
	for _, tt := range tests {
		out := pad([]byte(tt.in), tt.size)
		var v any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Errorf("pad(%s, %d) = %s: not JSON", tt.in, tt.size, out)
		}
		if tt.in[0] == '{' && len(out) < tt.size {
			t.Errorf("pad(%s, %d) is only %d bytes", tt.in, tt.size, len(out))
		}
	}
}

// TestSetFaultsUnderLoad flips faults while clients hammer the sim; every
// request must end as exactly one of success, throttle or error.
func TestSetFaultsUnderLoad(t *testing.T) {
	sim := startSim(t, Options{})
	const workers, perWorker = 8, 25
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range perWorker {
				status, _, _ := post(t, sim.URL()+"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":1}`, nil)
				if status == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		})
	}
	for i := range 50 {
		sim.SetFaults(Faults{ThrottleRate: float64(i%3) / 2, ErrorRate: 0.2})
	}
	wg.Wait()
	st := sim.Stats()
	got := []int64{ok.Load() + failed.Load(), st.Requests[RouteOpenAIChat], failed.Load(), st.OutputTokens}
	want := []int64{workers * perWorker, workers * perWorker, st.Throttled + st.Errors, ok.Load()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("totals (-want +got):\n%s", diff)
	}
}

// TestResetAfterEvents: the stream is cut mid-answer; each client sees the
// first events and no proper end.
func TestResetAfterEvents(t *testing.T) {
	sim := startSim(t, Options{})
	sim.SetFaults(Faults{ResetAfterEvents: 2})
	t.Run("openai", func(t *testing.T) {
		stream := openAIClient(sim.URL(), "k").Chat.Completions.NewStreaming(testCtx(t), chatParams(0))
		defer stream.Close()
		var content strings.Builder
		for stream.Next() {
			for _, c := range stream.Current().Choices {
				content.WriteString(c.Delta.Content)
			}
		}
		if content.String() != "tok0 tok1" || stream.Err() == nil {
			t.Errorf("content %q, error %v; want two tokens then an error", content.String(), stream.Err())
		}
	})
	t.Run("bedrock", func(t *testing.T) {
		in := converseInput(claudeID, 0)
		out, err := bedrockClient(sim.URL(), testRegion, "a", "b").ConverseStream(testCtx(t),
			&bedrockruntime.ConverseStreamInput{ModelId: in.ModelId, Messages: in.Messages})
		if err != nil {
			t.Fatalf("ConverseStream: %v", err)
		}
		stream := out.GetStream()
		defer stream.Close()
		deltas, terminal := 0, 0
		for ev := range stream.Events() {
			switch ev.(type) {
			case *types.ConverseStreamOutputMemberContentBlockDelta:
				deltas++
			case *types.ConverseStreamOutputMemberMessageStop, *types.ConverseStreamOutputMemberMetadata:
				terminal++
			}
		}
		// The SDK's event-stream decoder treats an unexpected EOF as the
		// end of the stream, so the cut shows only as missing messageStop
		// and metadata events, not as an error.
		if deltas != 2 || terminal != 0 {
			t.Errorf("deltas %d, terminal events %d (err %v); want 2 and none", deltas, terminal, stream.Err())
		}
	})
	if got := sim.Stats().Resets; got != 2 {
		t.Errorf("resets = %d, want 2", got)
	}
}

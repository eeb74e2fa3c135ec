package loadgen

import (
	"bufio"
	"bytes"
	"io"
	"testing"
	"time"

	awseventstream "github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/google/go-cmp/cmp"
)

func TestScheduledAt(t *testing.T) {
	start := time.Unix(1000, 0)
	tests := []struct {
		rate float64
		i    int64
		want time.Duration
	}{
		{1000, 0, 0},
		{1000, 1, time.Millisecond},
		{1000, 2500, 2500 * time.Millisecond},
		{3, 1, 333333333 * time.Nanosecond},
		{0.5, 3, 6 * time.Second},
	}
	for _, tt := range tests {
		if got := ScheduledAt(start, tt.rate, tt.i).Sub(start); got != tt.want {
			t.Errorf("ScheduledAt(rate %g, %d) = start+%s, want start+%s", tt.rate, tt.i, got, tt.want)
		}
	}
}

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"none", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"p50 of 1..100", hundred, 50, 50 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"p99.9 of 1..100 is the max", hundred, 99.9, 100 * time.Millisecond},
		{"p100", hundred, 100, 100 * time.Millisecond},
		{"nearest rank rounds up", ms(1, 2, 3), 50, 2 * time.Millisecond},
		{"tiny p is the min", ms(1, 2, 3), 0.001, time.Millisecond},
	}
	for _, tt := range tests {
		if got := Percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("%s: Percentile(%g) = %s, want %s", tt.name, tt.p, got, tt.want)
		}
	}
}

// Coordinated omission: latencies are taken from the scheduled send times. A stall that holds
// back a run of requests shows in every one of them, so it reaches the high percentiles; measured
// from the actual send it would show in one request only.
func TestSummarizeChargesAStallToEveryRequestBehindIt(t *testing.T) {
	start := time.Unix(0, 0)
	const rate = 1000.0
	// 1000 requests due every 1 ms, answered in 1 ms, except that the server stalls for 100 ms at
	// request 100: requests 100..199 are all answered when the stall ends, at 200 ms.
	var corrected, naive []time.Duration
	for i := range int64(1000) {
		due := ScheduledAt(start, rate, i)
		done := due.Add(time.Millisecond)
		sent := due
		if i >= 100 && i < 200 {
			done = start.Add(200 * time.Millisecond)
			sent = start.Add(200*time.Millisecond - time.Millisecond) // a closed-loop client sends late
			if i == 100 {
				sent = due
			}
		}
		corrected = append(corrected, done.Sub(due))
		naive = append(naive, done.Sub(sent))
	}
	var c, n Result
	Summarize(&c, corrected)
	Summarize(&n, naive)
	if c.P90US < 1000 || c.P99US < 50000 {
		t.Errorf("corrected p90 %gus p99 %gus: the stall should reach the 90th percentile", c.P90US, c.P99US)
	}
	if n.P99US != 1000 {
		t.Errorf("naive p99 %gus: want 1000us (the stall hides in one request)", n.P99US)
	}
	if c.MaxUS != 100000 || c.P50US != 1000 {
		t.Errorf("corrected max %gus p50 %gus, want 100000 and 1000", c.MaxUS, c.P50US)
	}
}

func TestReadFirstEventSSE(t *testing.T) {
	stream := "data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n"
	br := bufio.NewReader(bytes.NewBufferString(stream))
	n, err := readFirstEvent(br, FirstEventSSE)
	if err != nil || n != int64(len("data: {\"a\":1}\n\n")) {
		t.Fatalf("readFirstEvent = %d, %v", n, err)
	}
	rest, _ := io.ReadAll(br)
	if string(rest) != "data: {\"b\":2}\n\ndata: [DONE]\n\n" {
		t.Errorf("rest %q", rest)
	}
	// CRLF line ends and a leading blank line (not an event end) are handled.
	br = bufio.NewReader(bytes.NewBufferString("\r\nevent: x\r\ndata: y\r\n\r\nmore"))
	if n, err := readFirstEvent(br, FirstEventSSE); err != nil || n != int64(len("\r\nevent: x\r\ndata: y\r\n\r\n")) {
		t.Errorf("CRLF: %d, %v", n, err)
	}
	// A stream that ends before its first event is an error.
	if _, err := readFirstEvent(bufio.NewReader(bytes.NewBufferString("data: x\n")), FirstEventSSE); err == nil {
		t.Error("no error for a stream without a complete event")
	}
}

func TestReadFirstEventEventStream(t *testing.T) {
	var buf bytes.Buffer
	enc := awseventstream.NewEncoder()
	for _, p := range []string{`{"role":"assistant"}`, `{"delta":{"text":"tok0"}}`} {
		m := awseventstream.Message{Payload: []byte(p)}
		m.Headers.Set(":message-type", awseventstream.StringValue("event"))
		if err := enc.Encode(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	total := buf.Len()
	br := bufio.NewReader(&buf)
	n, err := readFirstEvent(br, FirstEventEventStream)
	if err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(br)
	if n+int64(len(rest)) != int64(total) || n <= 16 {
		t.Errorf("first message %d bytes, rest %d, total %d", n, len(rest), total)
	}
	dec := awseventstream.NewDecoder()
	m, err := dec.Decode(bytes.NewReader(rest), nil)
	if err != nil || string(m.Payload) != `{"delta":{"text":"tok0"}}` {
		t.Errorf("second message after the first: %q, %v", m.Payload, err)
	}
	bad := bufio.NewReader(bytes.NewReader([]byte{0, 0, 0, 3, 1, 2}))
	if _, err := readFirstEvent(bad, FirstEventEventStream); err == nil {
		t.Error("no error for an impossible message length")
	}
}

func TestRecorder(t *testing.T) {
	rc := newRecorder(4)
	rc.record(false, 200, nil, time.Second, 10) // warm-up: counted by status only
	rc.record(true, 200, nil, 2*time.Millisecond, 100)
	rc.record(true, 200, nil, 4*time.Millisecond, 300)
	rc.record(true, 503, nil, time.Millisecond, 5)
	got := rc.result(ModeRate, 4, 2*time.Second, 3*time.Second)
	want := Result{Mode: ModeRate, Sent: 4, Measured: 3, OK: 2, Errors: 1, Statuses: map[string]int64{"200": 3, "503": 1},
		FirstError: "status 503", P50US: 2000, P90US: 4000, P99US: 4000, P999US: 4000, MaxUS: 4000, MeanUS: 3000,
		RPS: 1, BytesPerResponse: 200, WallSeconds: 3}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
}

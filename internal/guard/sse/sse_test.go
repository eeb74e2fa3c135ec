package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// recorder is a dst that remembers what was on the wire at every flush.
type recorder struct {
	buf     bytes.Buffer
	flushed []string // cumulative output at each flush
}

func (r *recorder) Write(p []byte) (int, error) { return r.buf.Write(p) }
func (r *recorder) flush()                      { r.flushed = append(r.flushed, r.buf.String()) }

type result struct {
	out      string
	data     []string // payloads passed to inspect, in order
	flushes  int
	written  int64
	firstHit int
}

func relayAll(t *testing.T, src io.Reader, drop func(string) bool, eventCap int) (result, error) {
	t.Helper()
	var rec recorder
	var res result
	n, err := relayWith(&rec, rec.flush, src, func(d []byte) bool {
		res.data = append(res.data, string(d))
		return drop != nil && drop(string(d))
	}, func() {
		res.firstHit++
		if rec.buf.Len() != 0 {
			t.Errorf("firstByte called after bytes were written")
		}
	}, eventCap)
	res.out = rec.buf.String()
	res.flushes = len(rec.flushed)
	res.written = n
	return res, err
}

const usageOnly = `{"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}}`

func TestRelay(t *testing.T) {
	dropUsageOnly := func(d string) bool {
		_, _, only, ok := OpenAIUsage([]byte(d))
		return ok && only
	}
	big := strings.Repeat("x", 300)
	tests := []struct {
		name     string
		in       string
		drop     func(string) bool
		max      int
		wantOut  string // defaults to in
		wantData []string
		flushes  int
	}{
		{
			name:     "LF events",
			in:       "data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: [DONE]\n\n",
			wantData: []string{`{"a":1}`, `{"a":2}`, "[DONE]"},
			flushes:  3,
		},
		{
			name:     "CRLF events",
			in:       "data: one\r\n\r\ndata: two\r\n\r\n",
			wantData: []string{"one", "two"},
			flushes:  2,
		},
		{
			name:     "CR-only events",
			in:       "data: one\r\rdata: two\r\r",
			wantData: []string{"one", "two"},
			flushes:  2,
		},
		{
			name:     "multi-line data and other fields",
			in:       "event: message\nid: 7\ndata: first\ndata:second\ndata\nretry: 10\n\n",
			wantData: []string{"first\nsecond\n"},
			flushes:  1,
		},
		{
			name:     "comments pass without inspection",
			in:       ": keepalive\n\ndata: x\n\n: keepalive\r\n\r\n",
			wantData: []string{"x"},
			flushes:  3,
		},
		{
			name:     "usage-only chunk is dropped",
			in:       "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: " + usageOnly + "\n\ndata: [DONE]\n\n",
			drop:     dropUsageOnly,
			wantOut:  "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n",
			wantData: []string{`{"choices":[{"delta":{"content":"hi"}}]}`, usageOnly, "[DONE]"},
			flushes:  2,
		},
		{
			name:     "event larger than the cap passes intact and uninspected",
			in:       "data: a\n\ndata: " + big + "\ndata: " + big + "\n\ndata: b\n\n",
			max:      100,
			wantData: []string{"a", "b"},
			flushes:  3, // a, big, b (more when the big one arrives over several reads)
		},
		{
			name:     "unterminated last event is written",
			in:       "data: a\n\ndata: b\ndata: partial",
			wantData: []string{"a", "b"},
			flushes:  2,
		},
		{
			name:    "leading blank lines",
			in:      "\n\r\ndata: a\n\n",
			flushes: 3,
			wantData: []string{
				"a",
			},
		},
		{name: "empty stream", in: ""},
		{name: "not SSE at all still passes", in: "<html>oops</html>", flushes: 1},
	}
	for _, tc := range tests {
		for _, rd := range []struct {
			name string
			wrap func(io.Reader) io.Reader
		}{
			{"whole", func(r io.Reader) io.Reader { return r }},
			{"one byte", iotest.OneByteReader},
			{"half", iotest.HalfReader},
		} {
			t.Run(tc.name+"/"+rd.name, func(t *testing.T) {
				eventCap := tc.max
				if eventCap == 0 {
					eventCap = maxEvent
				}
				res, err := relayAll(t, rd.wrap(strings.NewReader(tc.in)), tc.drop, eventCap)
				if err != nil {
					t.Fatalf("Relay error: %v", err)
				}
				want := tc.wantOut
				if want == "" {
					want = tc.in
				}
				if diff := cmp.Diff(want, res.out); diff != "" {
					t.Errorf("output mismatch (-want +got):\n%s", diff)
				}
				if res.written != int64(len(want)) {
					t.Errorf("written = %d, want %d", res.written, len(want))
				}
				if diff := cmp.Diff(tc.wantData, res.data); diff != "" {
					t.Errorf("inspected data mismatch (-want +got):\n%s", diff)
				}
				// Split reads may add flushes (a CR ending a read, or a big
				// event arriving in pieces) but never lose one.
				if rd.name == "whole" && res.flushes != tc.flushes || res.flushes < tc.flushes {
					t.Errorf("flushes = %d, want %d", res.flushes, tc.flushes)
				}
				wantFirst := 0
				if want != "" {
					wantFirst = 1
				}
				if res.firstHit != wantFirst {
					t.Errorf("firstByte called %d times, want %d", res.firstHit, wantFirst)
				}
			})
		}
	}
}

// TestRelayFlushesBeforeNextEvent proves the relay never waits for the next
// event: the second event is only written into the pipe after the first has
// been flushed to dst. A relay that held events back would deadlock here.
func TestRelayFlushesBeforeNextEvent(t *testing.T) {
	pr, pw := io.Pipe()
	var out bytes.Buffer
	flushed := make(chan string)
	done := make(chan error)
	go func() {
		_, err := Relay(&out, func() { flushed <- out.String() }, pr, nil, nil)
		done <- err
	}()
	events := []string{"data: first\n\n", "data: second\r\n\r\n", ": keepalive\n\n"}
	want := ""
	for _, ev := range events {
		if _, err := pw.Write([]byte(ev)); err != nil {
			t.Fatal(err)
		}
		want += ev
		if got := <-flushed; got != want {
			t.Fatalf("at flush dst holds %q, want %q", got, want)
		}
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestRelayCRAtReadEnd covers a CR that ends an event exactly at the end of
// a read: the event must go out at once, and the LF that follows in the next
// read must follow it (or be dropped with it).
func TestRelayCRAtReadEnd(t *testing.T) {
	for _, drop := range []bool{false, true} {
		pr, pw := io.Pipe()
		var out bytes.Buffer
		flushed := make(chan string, 4)
		done := make(chan error)
		go func() {
			_, err := Relay(&out, func() { flushed <- out.String() }, pr, func([]byte) bool { return drop }, nil)
			done <- err
		}()
		_, _ = pw.Write([]byte("data: a\r\n\r"))
		if !drop {
			if got := <-flushed; got != "data: a\r\n\r" {
				t.Fatalf("first flush %q", got)
			}
		}
		_, _ = pw.Write([]byte("\n: k\n\n"))
		pw.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		want := "data: a\r\n\r\n: k\n\n"
		if drop {
			want = ": k\n\n"
		}
		if out.String() != want {
			t.Errorf("drop=%v: output %q, want %q", drop, out.String(), want)
		}
	}
}

type errWriter struct{ n int }

func (w *errWriter) Write(p []byte) (int, error) {
	if w.n <= 0 {
		return 0, errors.New("client went away")
	}
	w.n--
	return len(p), nil
}

func TestRelayErrors(t *testing.T) {
	boom := errors.New("upstream reset")
	t.Run("source error after data", func(t *testing.T) {
		var out bytes.Buffer
		src := io.MultiReader(strings.NewReader("data: a\n\ndata: b"), iotest.ErrReader(boom))
		n, err := Relay(&out, nil, src, nil, nil)
		if !errors.Is(err, boom) {
			t.Fatalf("error = %v, want %v", err, boom)
		}
		if out.String() != "data: a\n\ndata: b" || n != int64(out.Len()) {
			t.Fatalf("output %q (n=%d): what was received must be written", out.String(), n)
		}
	})
	t.Run("write error", func(t *testing.T) {
		w := &errWriter{n: 1}
		_, err := Relay(w, nil, strings.NewReader("data: a\n\ndata: b\n\ndata: c\n\n"), nil, nil)
		if err == nil || err.Error() != "client went away" {
			t.Fatalf("error = %v", err)
		}
	})
}

func TestOpenAIUsage(t *testing.T) {
	type got struct {
		In, Out       int64
		UsageOnly, OK bool
	}
	tests := []struct {
		name string
		data string
		want got
	}{
		{"content chunk", `{"choices":[{"delta":{"content":"hi"}}]}`, got{}},
		{"null usage", `{"choices":[{"delta":{}}],"usage":null}`, got{}},
		{"usage-only chunk", usageOnly, got{9, 12, true, true}},
		{"usage-only with spaces", `{"choices": [ ], "usage": {"prompt_tokens": 1, "completion_tokens": 2}}`, got{1, 2, true, true}},
		{"usage on a content chunk (vLLM continuous stats)", `{"choices":[{"delta":{"content":"x"}}],"usage":{"prompt_tokens":3,"completion_tokens":1}}`, got{3, 1, false, true}},
		{"non-stream answer", `{"object":"chat.completion","choices":[{"message":{"content":"the usage is"}}],"usage":{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30}}`, got{10, 20, false, true}},
		{"embeddings answer", `{"object":"list","data":[],"usage":{"prompt_tokens":8,"total_tokens":8}}`, got{8, 0, false, true}},
		{"no choices field", `{"usage":{"prompt_tokens":1,"completion_tokens":1}}`, got{1, 1, false, true}},
		{"negative counts clamp", `{"usage":{"prompt_tokens":-5,"completion_tokens":2}}`, got{0, 2, false, true}},
		{"done marker", `[DONE]`, got{}},
		{"word usage in content only", `{"choices":[{"delta":{"content":"\"usage\""}}]}`, got{}},
		{"malformed", `{"usage":{`, got{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, out, only, ok := OpenAIUsage([]byte(tc.data))
			if diff := cmp.Diff(tc.want, got{in, out, only, ok}); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func chunkStream(events int) []byte {
	var b bytes.Buffer
	for i := range events {
		_ = i
		b.WriteString(`data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1730000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":" token"},"finish_reason":null}]}` + "\n\n")
	}
	b.WriteString("data: " + usageOnly + "\n\ndata: [DONE]\n\n")
	return b.Bytes()
}

func BenchmarkRelayPerEvent(b *testing.B) {
	const events = 100
	stream := chunkStream(events)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		_, err := Relay(io.Discard, func() {}, bytes.NewReader(stream), func(d []byte) bool {
			_, _, only, ok := OpenAIUsage(d)
			return ok && only
		}, nil)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(events+2)), "ns/event")
}

package eventstream

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"testing"
	"testing/iotest"

	awsevent "github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/google/go-cmp/cmp"
)

// frame encodes one message with the SDK's own encoder, so the tests use
// exactly the bytes Bedrock's SDK clients accept.
func frame(t testing.TB, headers map[string]string, payload []byte) []byte {
	t.Helper()
	var hs awsevent.Headers
	for _, k := range []string{":message-type", ":event-type", ":exception-type", ":error-code", ":error-message", ":content-type"} {
		if v, ok := headers[k]; ok {
			hs.Set(k, awsevent.StringValue(v))
		}
	}
	var buf bytes.Buffer
	if err := awsevent.NewEncoder().Encode(&buf, awsevent.Message{Headers: hs, Payload: payload}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func event(t testing.TB, typ, payload string) []byte {
	return frame(t, map[string]string{":message-type": "event", ":event-type": typ, ":content-type": "application/json"}, []byte(payload))
}

func chunk(t testing.TB, inner string) []byte {
	p, err := json.Marshal(struct {
		Bytes string `json:"bytes"`
	}{base64.StdEncoding.EncodeToString([]byte(inner))})
	if err != nil {
		t.Fatal(err)
	}
	return event(t, "chunk", string(p))
}

func converseStream(t testing.TB) [][]byte {
	return [][]byte{
		event(t, "messageStart", `{"role":"assistant"}`),
		event(t, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"Hello"}}`),
		event(t, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":" world"}}`),
		event(t, "contentBlockStop", `{"contentBlockIndex":0}`),
		event(t, "messageStop", `{"stopReason":"end_turn"}`),
		event(t, "metadata", `{"usage":{"inputTokens":25,"outputTokens":7,"totalTokens":32},"metrics":{"latencyMs":410}}`),
	}
}

func invokeStream(t testing.TB) [][]byte {
	return [][]byte{
		chunk(t, `{"type":"message_start","message":{"role":"assistant"}}`),
		chunk(t, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}`),
		chunk(t, `{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":13,"outputTokenCount":4,"invocationLatency":300,"firstByteLatency":90}}`),
	}
}

type recorder struct {
	buf     bytes.Buffer
	flushAt []int // output length at each flush
}

func (r *recorder) Write(p []byte) (int, error) { return r.buf.Write(p) }
func (r *recorder) flush()                      { r.flushAt = append(r.flushAt, r.buf.Len()) }

func frameEnds(frames [][]byte) []int {
	var ends []int
	n := 0
	for _, f := range frames {
		n += len(f)
		ends = append(ends, n)
	}
	return ends
}

func TestRelay(t *testing.T) {
	converse := converseStream(t)
	invoke := invokeStream(t)
	throttled := converseStream(t)[:2:2]
	throttled = append(throttled, frame(t, map[string]string{
		":message-type": "exception", ":exception-type": "throttlingException", ":content-type": "application/json",
	}, []byte(`{"message":"Too many requests, please wait before trying again."}`)))
	internal := [][]byte{frame(t, map[string]string{":message-type": "error", ":error-code": "InternalFailure", ":error-message": "x"}, nil)}

	tests := []struct {
		name   string
		frames [][]byte
		want   Result // Bytes is filled in by the test
	}{
		{"converse stream metadata usage", converse, Result{InputTokens: 25, OutputTokens: 7, UsageSeen: true}},
		{"invoke stream invocation metrics", invoke, Result{InputTokens: 13, OutputTokens: 4, UsageSeen: true}},
		{"exception frame reported", throttled, Result{Exception: "throttlingException"}},
		{"error frame reported", internal, Result{Exception: "InternalFailure"}},
		{"empty stream", nil, Result{}},
		{"frame without headers or payload", [][]byte{frame(t, nil, nil)}, Result{}},
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
		{"data with EOF", iotest.DataErrReader},
	}
	for _, tc := range tests {
		for _, rd := range readers {
			t.Run(tc.name+"/"+rd.name, func(t *testing.T) {
				in := bytes.Join(tc.frames, nil)
				var rec recorder
				firsts := 0
				res, err := Relay(&rec, rec.flush, rd.wrap(bytes.NewReader(in)), func() {
					firsts++
					if rec.buf.Len() != 0 {
						t.Error("firstByte called after bytes were written")
					}
				})
				if err != nil {
					t.Fatalf("Relay error: %v", err)
				}
				if !bytes.Equal(rec.buf.Bytes(), in) {
					t.Fatalf("output differs from input (%d vs %d bytes)", rec.buf.Len(), len(in))
				}
				want := tc.want
				want.Bytes = int64(len(in))
				if diff := cmp.Diff(want, res); diff != "" {
					t.Errorf("Result mismatch (-want +got):\n%s", diff)
				}
				// One flush per frame, each exactly at a frame boundary.
				if diff := cmp.Diff(frameEnds(tc.frames), rec.flushAt); diff != "" {
					t.Errorf("flush points mismatch (-want +got):\n%s", diff)
				}
				if wantFirsts := min(len(in), 1); firsts != wantFirsts {
					t.Errorf("firstByte called %d times, want %d", firsts, wantFirsts)
				}
			})
		}
	}
}

// TestRelayFlushesBeforeNextFrame feeds frames through a pipe one at a time
// and waits for each to be flushed before sending the next: a relay that
// held frames back would deadlock.
func TestRelayFlushesBeforeNextFrame(t *testing.T) {
	frames := converseStream(t)
	pr, pw := io.Pipe()
	var out bytes.Buffer
	flushed := make(chan int)
	done := make(chan Result)
	go func() {
		res, err := Relay(&out, func() { flushed <- out.Len() }, pr, nil)
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	ends := frameEnds(frames)
	for i, f := range frames {
		// Split each frame over two writes to cross a read boundary too.
		_, _ = pw.Write(f[:len(f)/2])
		_, _ = pw.Write(f[len(f)/2:])
		if got := <-flushed; got != ends[i] {
			t.Fatalf("frame %d: flushed at %d bytes, want %d", i, got, ends[i])
		}
	}
	pw.Close()
	if res := <-done; !res.UsageSeen || res.InputTokens != 25 {
		t.Fatalf("usage not seen: %+v", res)
	}
}

func TestRelayBadFrames(t *testing.T) {
	good := converseStream(t)

	// A payload byte flipped: the prelude still frames it, the message CRC
	// fails, so inspection stops but frames still flow one by one.
	badCRC := bytes.Clone(good[1])
	badCRC[len(badCRC)-6] ^= 0xff
	crcFrames := [][]byte{good[0], badCRC, good[2], good[5]}

	// Garbage where a prelude should be: the rest is copied raw.
	garbage := []byte("this is not an event stream frame at all")

	// A claimed length beyond the limit with a valid prelude CRC.
	huge := bytes.Clone(good[0][:preludeLen])
	huge[0], huge[1], huge[2], huge[3] = 0x7f, 0xff, 0xff, 0xff
	fixPreludeCRC(huge)

	tests := []struct {
		name    string
		in      []byte
		want    Result
		wantErr error
		flushes int // minimum
	}{
		{
			name:    "message CRC failure stops inspection",
			in:      bytes.Join(crcFrames, nil),
			want:    Result{},
			flushes: 4,
		},
		{
			name:    "garbage after a frame is copied raw",
			in:      append(bytes.Clone(good[5]), garbage...),
			want:    Result{InputTokens: 25, OutputTokens: 7, UsageSeen: true},
			flushes: 2,
		},
		{
			name:    "implausible length is copied raw",
			in:      append(huge, bytes.Join(good, nil)...),
			want:    Result{},
			flushes: 1,
		},
		{
			name:    "truncated inside a frame",
			in:      bytes.Join(good, nil)[:len(good[0])+10],
			want:    Result{},
			wantErr: io.ErrUnexpectedEOF,
			flushes: 2,
		},
		{
			name:    "truncated inside a prelude",
			in:      bytes.Join(good, nil)[:len(good[0])+5],
			wantErr: io.ErrUnexpectedEOF,
			flushes: 2,
		},
	}
	for _, tc := range tests {
		for _, wrap := range []func(io.Reader) io.Reader{func(r io.Reader) io.Reader { return r }, iotest.OneByteReader} {
			var rec recorder
			res, err := Relay(&rec, rec.flush, wrap(bytes.NewReader(tc.in)), nil)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("%s: error %v, want %v", tc.name, err, tc.wantErr)
			}
			if !bytes.Equal(rec.buf.Bytes(), tc.in) {
				t.Errorf("%s: output differs from input", tc.name)
			}
			want := tc.want
			want.Bytes = int64(len(tc.in))
			if diff := cmp.Diff(want, res); diff != "" {
				t.Errorf("%s: Result mismatch (-want +got):\n%s", tc.name, diff)
			}
			if len(rec.flushAt) < tc.flushes || rec.flushAt[len(rec.flushAt)-1] != len(tc.in) {
				t.Errorf("%s: flushes at %v, want at least %d ending at %d", tc.name, rec.flushAt, tc.flushes, len(tc.in))
			}
		}
	}
}

func fixPreludeCRC(p []byte) {
	c := crc32IEEE(p[:8])
	p[8], p[9], p[10], p[11] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("client went away") }

func TestRelayWriteError(t *testing.T) {
	in := bytes.Join(converseStream(t), nil)
	_, err := Relay(failWriter{}, nil, bytes.NewReader(in), nil)
	if err == nil || err.Error() != "client went away" {
		t.Fatalf("error = %v", err)
	}
}

func TestRelaySourceError(t *testing.T) {
	boom := errors.New("connection reset")
	frames := converseStream(t)
	src := io.MultiReader(bytes.NewReader(frames[0]), bytes.NewReader(frames[1][:7]), iotest.ErrReader(boom))
	var out bytes.Buffer
	res, err := Relay(&out, nil, src, nil)
	if !errors.Is(err, boom) {
		t.Fatalf("error = %v, want %v", err, boom)
	}
	if want := len(frames[0]) + 7; out.Len() != want || res.Bytes != int64(want) {
		t.Fatalf("wrote %d bytes (Result.Bytes %d), want %d", out.Len(), res.Bytes, want)
	}
}

func BenchmarkRelayConverseStream(b *testing.B) {
	var frames [][]byte
	for range 50 {
		frames = append(frames, event(b, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":" token"}}`))
	}
	frames = append(frames, converseStream(b)...)
	in := bytes.Join(frames, nil)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Relay(io.Discard, func() {}, bytes.NewReader(in), nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(frames)), "ns/frame")
}

func crc32IEEE(p []byte) uint32 { return crc32.ChecksumIEEE(p) }

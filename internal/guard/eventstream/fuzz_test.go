package eventstream

import (
	"bytes"
	"io"
	"testing"
)

// chunkReader returns data in reads whose sizes come from the fuzzer.
type chunkReader struct {
	data  []byte
	sizes []byte
	i     int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := 1
	if len(r.sizes) > 0 {
		n = int(r.sizes[r.i%len(r.sizes)]) + 1
		r.i++
	}
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// FuzzRelay checks that whatever arrives, the relay writes exactly the bytes
// it received, never panics, and reaches the same result whatever the read
// boundaries.
func FuzzRelay(f *testing.F) {
	converse := bytes.Join(converseStream(f), nil)
	invoke := bytes.Join(invokeStream(f), nil)
	exc := frame(f, map[string]string{":message-type": "exception", ":exception-type": "validationException"}, []byte(`{}`))
	f.Add(converse, []byte{0})
	f.Add(invoke, []byte{5, 200})
	f.Add(append(bytes.Clone(converse[:40]), invoke...), []byte{1})
	f.Add(exc, []byte{255})
	f.Add([]byte("not a frame"), []byte{})
	f.Add(event(f, "metadata", `{"usage":{"inputTokens":-1,"outputTokens":1e99}}`), []byte{3})
	f.Add(chunk(f, `{"amazon-bedrock-invocationMetrics":{"inputTokenCount":"x"}}`), []byte{3})
	f.Fuzz(func(t *testing.T, in, sizes []byte) {
		var a, b bytes.Buffer
		ra, errA := Relay(&a, nil, bytes.NewReader(in), nil)
		rb, errB := Relay(&b, nil, &chunkReader{data: in, sizes: sizes}, nil)
		if !bytes.Equal(a.Bytes(), in) || !bytes.Equal(b.Bytes(), in) {
			t.Fatalf("output differs from input")
		}
		if ra != rb || (errA == nil) != (errB == nil) {
			t.Fatalf("read boundaries changed the outcome: %+v %v vs %+v %v", ra, errA, rb, errB)
		}
		if ra.Bytes != int64(len(in)) || ra.InputTokens < 0 || ra.OutputTokens < 0 {
			t.Fatalf("bad result %+v for %d bytes", ra, len(in))
		}
	})
}

// FuzzRelayFrames builds well-formed frames around fuzzed headers and
// payloads, which random bytes almost never are (every frame carries two
// CRCs), to exercise the decoding and usage paths rather than only the raw
// fallback.
func FuzzRelayFrames(f *testing.F) {
	f.Add("event", "metadata", []byte(`{"usage":{"inputTokens":25,"outputTokens":7}}`), uint8(0))
	f.Add("event", "chunk", []byte(`{"bytes":"eyJhbWF6b24tYmVkcm9jay1pbnZvY2F0aW9uTWV0cmljcyI6eyJpbnB1dFRva2VuQ291bnQiOjF9fQ=="}`), uint8(0))
	f.Add("exception", "", []byte(`{"message":"x"}`), uint8(2))
	f.Add("error", "", []byte{}, uint8(1))
	f.Add("event", "contentBlockDelta", []byte(`{"delta":{"text":"hi"}}`), uint8(3))
	f.Fuzz(func(t *testing.T, msgType, eventType string, payload []byte, corrupt uint8) {
		if len(msgType) > 200 || len(eventType) > 200 {
			return
		}
		h := map[string]string{":message-type": msgType, ":event-type": eventType, ":exception-type": eventType, ":error-code": eventType}
		one := frame(t, h, payload)
		frames := [][]byte{one, event(t, "metadata", `{"usage":{"inputTokens":1,"outputTokens":2}}`), one}
		in := bytes.Join(frames, nil)
		if corrupt > 0 {
			in[int(corrupt)%len(in)] ^= corrupt
		}
		var a, b bytes.Buffer
		ra, errA := Relay(&a, nil, bytes.NewReader(in), nil)
		rb, errB := Relay(&b, nil, &chunkReader{data: in, sizes: []byte{corrupt}}, nil)
		if !bytes.Equal(a.Bytes(), in) || !bytes.Equal(b.Bytes(), in) {
			t.Fatalf("output differs from input")
		}
		if ra != rb || (errA == nil) != (errB == nil) {
			t.Fatalf("read boundaries changed the outcome: %+v %v vs %+v %v", ra, errA, rb, errB)
		}
		if corrupt == 0 && errA != nil {
			t.Fatalf("well-formed stream failed: %v", errA)
		}
	})
}

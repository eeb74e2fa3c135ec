// Package eventstream relays AWS event streams
// (application/vnd.amazon.eventstream), as returned by Bedrock's
// ConverseStream and InvokeModelWithResponseStream, from the provider to the
// app.
//
// The bytes reach the app unchanged, one frame at a time: the app's AWS SDK
// checks every frame's CRCs, so the guard cannot (and must not) alter them.
// Frames are decoded on the side only to read token usage and exceptions,
// with the SDK's own decoder. A stream the guard cannot make sense of is
// still passed through: inspecting is best effort, relaying is not.
package eventstream

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"

	awsevent "github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

const (
	// preludeLen is total length, headers length and prelude CRC.
	preludeLen = 12
	// minFrame is a prelude plus the message CRC, with no headers or payload.
	minFrame = preludeLen + 4
	// maxFrame bounds what is held in memory for one frame: the event
	// stream format allows messages of up to 16 MiB. A longer claimed
	// length cannot be a real frame; the stream is then passed through
	// raw.
	maxFrame = 16 << 20
	rawRead  = 32 << 10
)

// Result is what the relay learned from the stream.
type Result struct {
	InputTokens, OutputTokens int64
	UsageSeen                 bool   // the stream reported usage (the last report wins)
	Exception                 string // exception type (or error code) of an exception/error frame; never its message
	Bytes                     int64  // bytes written to dst
}

type relay struct {
	dst       io.Writer
	flush     func()
	firstByte func()
	res       Result
	started   bool

	dec     *awsevent.Decoder
	inspect bool
	payload []byte // reused by the decoder
}

// Relay copies src to dst byte for byte, flushing after each complete frame,
// while decoding the frames with the SDK's Decoder to find token usage:
// ConverseStream's "metadata" event ({"usage":{"inputTokens","outputTokens"}})
// and InvokeModelWithResponseStream's "chunk" events, whose base64 "bytes"
// decode to JSON that may hold "amazon-bedrock-invocationMetrics"
// ({"inputTokenCount","outputTokenCount"}). Exception and error frames are
// passed through and their type reported.
//
// A frame that fails to decode is passed through and inspection stops. A
// prelude that is not a plausible frame (bad CRC, impossible lengths) turns
// the rest of the stream into a plain copy, flushed after every read. A
// stream that ends inside a frame has the received bytes written and
// returns io.ErrUnexpectedEOF. firstByte, if not nil, is called once just
// before the first byte is written to dst.
func Relay(dst io.Writer, flush func(), src io.Reader, firstByte func()) (Result, error) {
	if flush == nil {
		flush = func() {}
	}
	r := &relay{dst: dst, flush: flush, firstByte: firstByte, dec: awsevent.NewDecoder(), inspect: true}
	var frame bytes.Buffer
	var prelude [preludeLen]byte
	for {
		n, err := io.ReadFull(src, prelude[:])
		if err != nil {
			if n == 0 && errors.Is(err, io.EOF) {
				return r.res, nil
			}
			return r.res, r.partial(prelude[:n], err)
		}
		total := binary.BigEndian.Uint32(prelude[0:4])
		headers := binary.BigEndian.Uint32(prelude[4:8])
		if crc32.ChecksumIEEE(prelude[:8]) != binary.BigEndian.Uint32(prelude[8:12]) ||
			total < minFrame || total > maxFrame || headers > total-minFrame {
			r.inspect = false
			if err := r.write(prelude[:]); err != nil {
				return r.res, err
			}
			r.flush()
			return r.res, r.copyRaw(src)
		}
		frame.Reset()
		frame.Write(prelude[:])
		if _, err := io.CopyN(&frame, src, int64(total-preludeLen)); err != nil {
			return r.res, r.partial(frame.Bytes(), err)
		}
		if err := r.write(frame.Bytes()); err != nil {
			return r.res, err
		}
		r.flush()
		if r.inspect {
			f := frame.Bytes()
			if mayMatter(f[preludeLen : preludeLen+headers]) {
				r.look(f)
			} else if crc32.ChecksumIEEE(f[:len(f)-4]) != binary.BigEndian.Uint32(f[len(f)-4:]) {
				// What the decoder would have caught: stop trusting the stream.
				r.inspect = false
			}
		}
	}
}

// partial writes the bytes of an unfinished frame before reporting why the
// stream ended: the app should see everything the provider sent.
func (r *relay) partial(got []byte, err error) error {
	if werr := r.write(got); werr != nil {
		return werr
	}
	if len(got) > 0 {
		r.flush()
	}
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (r *relay) write(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if !r.started {
		r.started = true
		if r.firstByte != nil {
			r.firstByte()
		}
	}
	n, err := r.dst.Write(p)
	r.res.Bytes += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return err
}

func (r *relay) copyRaw(src io.Reader) error {
	buf := make([]byte, rawRead)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if werr := r.write(buf[:n]); werr != nil {
				return werr
			}
			r.flush()
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// mayMatter reports whether a frame's raw headers could name a frame look
// acts on. Most frames of a ConverseStream are content deltas; skipping the
// SDK decoder for them saves dozens of allocations per frame. The test is a
// superset (it only looks for the values as substrings), so nothing that
// matters is skipped. Skipped frames still have their CRC checked, so a
// corrupt frame stops inspection as a decode failure would.
func mayMatter(headers []byte) bool {
	for _, v := range interesting {
		if bytes.Contains(headers, v) {
			return true
		}
	}
	return false
}

var interesting = [][]byte{[]byte("metadata"), []byte("chunk"), []byte("exception"), []byte("error")}

// look decodes one complete frame and records what it says about usage or
// failure. It never affects what is written.
func (r *relay) look(frame []byte) {
	msg, err := r.dec.Decode(bytes.NewReader(frame), r.payload[:0])
	if err != nil {
		r.inspect = false
		return
	}
	r.payload = msg.Payload
	switch header(msg, ":message-type") {
	case "exception":
		r.res.Exception = header(msg, ":exception-type")
		if r.res.Exception == "" {
			r.res.Exception = "exception"
		}
	case "error":
		r.res.Exception = header(msg, ":error-code")
		if r.res.Exception == "" {
			r.res.Exception = "error"
		}
	case "event":
		switch header(msg, ":event-type") {
		case "metadata":
			r.converseUsage(msg.Payload)
		case "chunk":
			r.invokeUsage(msg.Payload)
		}
	}
}

func header(msg awsevent.Message, name string) string {
	v := msg.Headers.Get(name)
	if v == nil {
		return ""
	}
	if s, ok := v.(awsevent.StringValue); ok {
		return string(s)
	}
	return v.String()
}

func (r *relay) converseUsage(payload []byte) {
	var v struct {
		Usage *struct {
			InputTokens  int64 `json:"inputTokens"`
			OutputTokens int64 `json:"outputTokens"`
		} `json:"usage"`
	}
	if json.Unmarshal(payload, &v) != nil || v.Usage == nil {
		return
	}
	r.setUsage(v.Usage.InputTokens, v.Usage.OutputTokens)
}

var metricsKey = []byte(`"amazon-bedrock-invocationMetrics"`)

func (r *relay) invokeUsage(payload []byte) {
	var chunk struct {
		Bytes []byte `json:"bytes"` // base64 in JSON, decoded by encoding/json
	}
	if json.Unmarshal(payload, &chunk) != nil || !bytes.Contains(chunk.Bytes, metricsKey) {
		return
	}
	var v struct {
		Metrics *struct {
			InputTokenCount  int64 `json:"inputTokenCount"`
			OutputTokenCount int64 `json:"outputTokenCount"`
		} `json:"amazon-bedrock-invocationMetrics"`
	}
	if json.Unmarshal(chunk.Bytes, &v) != nil || v.Metrics == nil {
		return
	}
	r.setUsage(v.Metrics.InputTokenCount, v.Metrics.OutputTokenCount)
}

func (r *relay) setUsage(in, out int64) {
	r.res.InputTokens = max(in, 0)
	r.res.OutputTokens = max(out, 0)
	r.res.UsageSeen = true
}

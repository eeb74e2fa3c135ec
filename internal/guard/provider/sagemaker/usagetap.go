package sagemaker

import (
	"bytes"
	"encoding/binary"
	"io"

	awsevents "github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/breakwater-dev/breakwater/internal/guard/sse"
)

// maxTapFrame bounds the frame the SageMaker usage tap holds; a larger one stops inspection
// (the bytes still pass through the relay untouched).
const maxTapFrame = 1 << 20

// usageTap reads token usage out of a SageMaker response stream as it passes to the
// relay. SageMaker wraps whatever the container streams in PayloadPart events; the containers
// used for LLMs (vLLM, LMI, TGI messages API) stream OpenAI SSE chunks, whose final chunk carries
// usage. The tap never changes or delays bytes: it only looks at what the relay reads.
type usageTap struct {
	r       io.Reader
	frame   []byte // bytes of the current, incomplete event-stream frame
	line    []byte // the current, incomplete SSE line across PayloadParts
	dead    bool   // inspection stopped (a frame that did not decode, or too large)
	decoder *awsevents.Decoder

	in, out int64
	seen    bool
}

func newUsageTap(r io.Reader) *usageTap {
	return &usageTap{r: r, decoder: awsevents.NewDecoder()}
}

func (t *usageTap) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 && !t.dead {
		t.feed(p[:n])
	}
	return n, err
}

func (t *usageTap) feed(b []byte) {
	t.frame = append(t.frame, b...)
	for len(t.frame) >= 4 {
		total := binary.BigEndian.Uint32(t.frame[:4])
		if total < 16 || total > maxTapFrame {
			t.stop()
			return
		}
		if uint32(len(t.frame)) < total {
			return
		}
		msg, err := t.decoder.Decode(bytes.NewReader(t.frame[:total]), nil)
		if err != nil {
			t.stop()
			return
		}
		if ev := msg.Headers.Get(":event-type"); ev != nil && ev.String() == "PayloadPart" {
			t.payload(msg.Payload)
		}
		t.frame = append(t.frame[:0], t.frame[total:]...)
	}
}

// payload scans SSE "data:" lines, which may span PayloadParts, for OpenAI usage.
func (t *usageTap) payload(b []byte) {
	t.line = append(t.line, b...)
	for {
		i := bytes.IndexByte(t.line, '\n')
		if i < 0 {
			break
		}
		line := bytes.TrimSpace(t.line[:i])
		if data, ok := bytes.CutPrefix(line, []byte("data:")); ok {
			if in, out, _, ok := sse.OpenAIUsage(bytes.TrimSpace(data)); ok {
				t.in, t.out, t.seen = in, out, true
			}
		}
		t.line = append(t.line[:0], t.line[i+1:]...)
	}
	if len(t.line) > maxTapFrame {
		t.stop()
	}
}

func (t *usageTap) stop() {
	t.dead, t.frame, t.line = true, nil, nil
}

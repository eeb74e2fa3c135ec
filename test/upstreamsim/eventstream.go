package upstreamsim

import (
	"encoding/json"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// eventWriter writes AWS event-stream frames, flushing each one so the
// client sees every event as soon as it is sent.
type eventWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	enc *eventstream.Encoder
}

// startEventStream sends the 200 headers of an event-stream answer; extra
// carries the operation's own headers.
func (c *call) startEventStream(extra map[string]string) (*eventWriter, bool) {
	h := c.w.Header()
	h.Set("Content-Type", "application/vnd.amazon.eventstream")
	h.Set("X-Amzn-Requestid", c.answerID("sim-"))
	for k, v := range extra {
		h.Set(k, v)
	}
	c.w.WriteHeader(http.StatusOK)
	ew := &eventWriter{w: c.w, rc: http.NewResponseController(c.w), enc: eventstream.NewEncoder()}
	return ew, ew.rc.Flush() == nil
}

// event sends one event frame with a raw payload.
func (e *eventWriter) event(eventType, contentType string, payload []byte) error {
	msg := eventstream.Message{Payload: payload}
	msg.Headers.Set(":event-type", eventstream.StringValue(eventType))
	msg.Headers.Set(":content-type", eventstream.StringValue(contentType))
	msg.Headers.Set(":message-type", eventstream.StringValue("event"))
	if err := e.enc.Encode(e.w, msg); err != nil {
		return err
	}
	return e.rc.Flush()
}

// jsonEvent sends one event frame whose payload is v as JSON.
func (e *eventWriter) jsonEvent(eventType string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return e.event(eventType, "application/json", b)
}

// exception sends an exception frame, the way a service reports an error
// after the stream has started. Bedrock spells the member "message",
// SageMaker "Message" (the JavaScript SDK reads only the exact spelling).
func (e *eventWriter) exception(exceptionType, messageMember, msg string) error {
	b, err := json.Marshal(map[string]string{messageMember: msg})
	if err != nil {
		return err
	}
	m := eventstream.Message{Payload: b}
	m.Headers.Set(":exception-type", eventstream.StringValue(exceptionType))
	m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	m.Headers.Set(":message-type", eventstream.StringValue("exception"))
	if err := e.enc.Encode(e.w, m); err != nil {
		return err
	}
	return e.rc.Flush()
}

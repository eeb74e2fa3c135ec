package upstreamsim

import (
	"encoding/json"
	"fmt"
	"time"
)

// SageMaker endpoints answer whatever their container answers. The sim
// plays an OpenAI-compatible container (vLLM, LMI, TGI messages API), the
// common choice for LLMs, because that shape carries usage for the guard's
// token accounting.

func (c *call) sageMakerInvoke() {
	in, out, truncated := c.tokens()
	resp := oaCompletion{
		ID:      c.answerID("chatcmpl-sim"),
		Object:  "chat.completion",
		Created: time.Now().Unix(),
		Model:   c.modelID,
		Choices: []oaChoice{{
			Message:      oaMessage{Role: "assistant", Content: answerText(out)},
			FinishReason: finishReason(truncated),
		}},
		Usage: oaUsage{PromptTokens: in, CompletionTokens: out, TotalTokens: in + out},
	}
	h := c.w.Header()
	h.Set("X-Amzn-Requestid", c.answerID("sim-"))
	h.Set("X-Amzn-Invoked-Production-Variant", "AllTraffic")
	c.writeBody(resp)
	c.served(in, out)
}

// sageMakerInvokeStream answers PayloadPart events whose bytes are the SSE
// lines an OpenAI-compatible container streams: one chat.completion.chunk
// per token, a finish chunk, a usage chunk (always: SageMaker callers have
// no other way to learn usage) and [DONE]. A part boundary always falls on
// an event boundary, which real containers do not promise.
func (c *call) sageMakerInvokeStream() {
	in, out, truncated := c.tokens()
	ew, ok := c.startEventStream(map[string]string{
		"X-Amzn-Sagemaker-Content-Type":     "text/event-stream",
		"X-Amzn-Invoked-Production-Variant": "AllTraffic",
	})
	if !ok {
		return
	}
	id, created := c.answerID("chatcmpl-sim"), time.Now().Unix()
	part := func(v any) error {
		var data []byte
		if s, ok := v.(string); ok {
			data = []byte(s)
		} else {
			b, err := json.Marshal(v)
			if err != nil {
				return err
			}
			data = b
		}
		return ew.event("PayloadPart", "application/octet-stream", fmt.Appendf(nil, "data: %s\n\n", data))
	}
	chunk := func(choices []oaChunkChoice, usage *oaUsage) oaChunk {
		return oaChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: c.modelID, Choices: choices, Usage: usage}
	}
	sent := c.streamContent(out, func(i int) error {
		text := tokenText(i)
		delta := oaDelta{Content: &text}
		if i == 0 {
			delta.Role = "assistant"
		}
		return part(chunk([]oaChunkChoice{{Delta: delta}}, nil))
	}, func() error {
		return ew.exception("ModelStreamError", "Message", "injected stream failure")
	})
	if !sent {
		return
	}
	reason := finishReason(truncated)
	if part(chunk([]oaChunkChoice{{FinishReason: &reason}}, nil)) != nil ||
		part(chunk([]oaChunkChoice{}, &oaUsage{PromptTokens: in, CompletionTokens: out, TotalTokens: in + out})) != nil ||
		part("[DONE]") != nil {
		return
	}
	c.served(in, out)
}

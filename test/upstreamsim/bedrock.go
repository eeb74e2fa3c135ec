package upstreamsim

import (
	"encoding/json"
	"strconv"
)

// Bedrock Runtime wire types (Converse and the Anthropic messages format of
// InvokeModel), reduced to what the clients read.

type brUsage struct {
	InputTokens  int `json:"inputTokens"`
	OutputTokens int `json:"outputTokens"`
	TotalTokens  int `json:"totalTokens"`
}

type brMetrics struct {
	LatencyMs int64 `json:"latencyMs"`
}

type brText struct {
	Text string `json:"text"`
}

type brConverse struct {
	Output struct {
		Message struct {
			Role    string   `json:"role"`
			Content []brText `json:"content"`
		} `json:"message"`
	} `json:"output"`
	StopReason string    `json:"stopReason"`
	Usage      brUsage   `json:"usage"`
	Metrics    brMetrics `json:"metrics"`
}

type anthropicUsage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

type anthropicContent struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type anthropicMessage struct {
	ID           string             `json:"id"`
	Type         string             `json:"type"`
	Role         string             `json:"role"`
	Model        string             `json:"model"`
	Content      []anthropicContent `json:"content"`
	StopReason   *string            `json:"stop_reason"`
	StopSequence *string            `json:"stop_sequence"`
	Usage        anthropicUsage     `json:"usage"`
}

// invocationMetrics is the "amazon-bedrock-invocationMetrics" member of the
// last InvokeModelWithResponseStream chunk.
type invocationMetrics struct {
	InputTokenCount   int   `json:"inputTokenCount"`
	OutputTokenCount  int   `json:"outputTokenCount"`
	InvocationLatency int64 `json:"invocationLatency"`
	FirstByteLatency  int64 `json:"firstByteLatency"`
}

func stopReason(truncated bool) string {
	if truncated {
		return "max_tokens"
	}
	return "end_turn"
}

func (c *call) converse() {
	in, out, truncated := c.tokens()
	var resp brConverse
	resp.Output.Message.Role = "assistant"
	resp.Output.Message.Content = []brText{{Text: answerText(out)}}
	resp.StopReason = stopReason(truncated)
	resp.Usage = brUsage{InputTokens: in, OutputTokens: out, TotalTokens: in + out}
	resp.Metrics = brMetrics{LatencyMs: c.latencyMs()}
	c.w.Header().Set("X-Amzn-Requestid", c.answerID("sim-"))
	c.writeBody(resp)
	c.served(in, out)
}

// converseStream answers messageStart, one contentBlockDelta per token,
// contentBlockStop, messageStop and metadata (usage and metrics).
func (c *call) converseStream() {
	in, out, truncated := c.tokens()
	ew, ok := c.startEventStream(nil)
	if !ok {
		return
	}
	sent := c.streamContent(out, func(i int) error {
		if i == 0 {
			if err := ew.jsonEvent("messageStart", map[string]string{"role": "assistant"}); err != nil {
				return err
			}
		}
		return ew.jsonEvent("contentBlockDelta", map[string]any{
			"contentBlockIndex": 0,
			"delta":             brText{Text: tokenText(i)},
		})
	}, func() error {
		return ew.exception("throttlingException", "message", "Too many requests, please wait before trying again.")
	})
	if !sent {
		return
	}
	if ew.jsonEvent("contentBlockStop", map[string]int{"contentBlockIndex": 0}) != nil ||
		ew.jsonEvent("messageStop", map[string]string{"stopReason": stopReason(truncated)}) != nil ||
		ew.jsonEvent("metadata", map[string]any{
			"usage":   brUsage{InputTokens: in, OutputTokens: out, TotalTokens: in + out},
			"metrics": brMetrics{LatencyMs: c.latencyMs()},
		}) != nil {
		return
	}
	c.served(in, out)
}

// invoke answers an Anthropic-messages-style body and the token headers
// Bedrock adds to every InvokeModel answer.
func (c *call) invoke() {
	in, out, truncated := c.tokens()
	reason := stopReason(truncated)
	resp := anthropicMessage{
		ID:         c.answerID("msg_sim"),
		Type:       "message",
		Role:       "assistant",
		Model:      c.modelID,
		Content:    []anthropicContent{{Type: "text", Text: answerText(out)}},
		StopReason: &reason,
		Usage:      anthropicUsage{InputTokens: in, OutputTokens: out},
	}
	h := c.w.Header()
	h.Set("X-Amzn-Requestid", c.answerID("sim-"))
	h.Set("X-Amzn-Bedrock-Input-Token-Count", strconv.Itoa(in))
	h.Set("X-Amzn-Bedrock-Output-Token-Count", strconv.Itoa(out))
	h.Set("X-Amzn-Bedrock-Invocation-Latency", strconv.FormatInt(c.latencyMs(), 10))
	c.writeBody(resp)
	c.served(in, out)
}

// invokeStream answers "chunk" events whose payload is {"bytes": base64 of
// an Anthropic streaming event}; the last one carries
// amazon-bedrock-invocationMetrics, which is where Bedrock reports usage.
func (c *call) invokeStream() {
	in, out, truncated := c.tokens()
	ew, ok := c.startEventStream(map[string]string{"X-Amzn-Bedrock-Content-Type": "application/json"})
	if !ok {
		return
	}
	chunk := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		// []byte marshals as base64, which is the wire form of the blob.
		return ew.jsonEvent("chunk", struct {
			Bytes []byte `json:"bytes"`
		}{b})
	}
	var firstByte int64
	sent := c.streamContent(out, func(i int) error {
		if i == 0 {
			firstByte = c.latencyMs()
			err := chunk(map[string]any{
				"type": "message_start",
				"message": anthropicMessage{
					ID: c.answerID("msg_sim"), Type: "message", Role: "assistant", Model: c.modelID,
					Content: []anthropicContent{}, Usage: anthropicUsage{InputTokens: in, OutputTokens: 1},
				},
			})
			if err != nil {
				return err
			}
			err = chunk(map[string]any{"type": "content_block_start", "index": 0, "content_block": anthropicContent{Type: "text"}})
			if err != nil {
				return err
			}
		}
		return chunk(map[string]any{
			"type": "content_block_delta", "index": 0,
			"delta": map[string]string{"type": "text_delta", "text": tokenText(i)},
		})
	}, func() error {
		return ew.exception("throttlingException", "message", "Too many requests, please wait before trying again.")
	})
	if !sent {
		return
	}
	if chunk(map[string]any{"type": "content_block_stop", "index": 0}) != nil ||
		chunk(map[string]any{
			"type":  "message_delta",
			"delta": map[string]any{"stop_reason": stopReason(truncated), "stop_sequence": nil},
			"usage": map[string]int{"output_tokens": out},
		}) != nil ||
		chunk(map[string]any{
			"type": "message_stop",
			"amazon-bedrock-invocationMetrics": invocationMetrics{
				InputTokenCount: in, OutputTokenCount: out,
				InvocationLatency: c.latencyMs(), FirstByteLatency: firstByte,
			},
		}) != nil {
		return
	}
	c.served(in, out)
}

package upstreamsim

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"time"
)

// OpenAI-compatible wire types, reduced to the fields the clients read.

type oaUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type oaMessage struct {
	Role    string  `json:"role"`
	Content string  `json:"content"`
	Refusal *string `json:"refusal"`
}

type oaChoice struct {
	Index        int       `json:"index"`
	Message      oaMessage `json:"message"`
	FinishReason string    `json:"finish_reason"`
	Logprobs     *struct{} `json:"logprobs"`
}

type oaCompletion struct {
	ID      string     `json:"id"`
	Object  string     `json:"object"`
	Created int64      `json:"created"`
	Model   string     `json:"model"`
	Choices []oaChoice `json:"choices"`
	Usage   oaUsage    `json:"usage"`
}

type oaDelta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

type oaChunkChoice struct {
	Index        int       `json:"index"`
	Delta        oaDelta   `json:"delta"`
	FinishReason *string   `json:"finish_reason"`
	Logprobs     *struct{} `json:"logprobs"`
}

type oaChunk struct {
	ID      string          `json:"id"`
	Object  string          `json:"object"`
	Created int64           `json:"created"`
	Model   string          `json:"model"`
	Choices []oaChunkChoice `json:"choices"`
	Usage   *oaUsage        `json:"usage,omitempty"`
}

type oaEmbedding struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"` // []float32, or a base64 string when asked for
}

type oaEmbeddings struct {
	Object string        `json:"object"`
	Data   []oaEmbedding `json:"data"`
	Model  string        `json:"model"`
	Usage  struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

// modelName is the model the answer names: the one asked for, else a
// stand-in (some OpenAI-compatible servers accept requests without one).
func (c *call) modelName() string {
	if c.req.model != "" {
		return c.req.model
	}
	return "sim-model"
}

func finishReason(truncated bool) string {
	if truncated {
		return "length"
	}
	return "stop"
}

func (c *call) openAIChat() {
	in, out, truncated := c.tokens()
	resp := oaCompletion{
		ID:      c.answerID("chatcmpl-sim"),
		Object:  "chat.completion",
		Created: time.Now().Unix(),
		Model:   c.modelName(),
		Choices: []oaChoice{{
			Message:      oaMessage{Role: "assistant", Content: answerText(out)},
			FinishReason: finishReason(truncated),
		}},
		Usage: oaUsage{PromptTokens: in, CompletionTokens: out, TotalTokens: in + out},
	}
	c.writeBody(resp)
	c.served(in, out)
}

// openAIChatStream answers SSE chat.completion.chunk events: role and first
// token, one token per chunk, a chunk with the finish reason, the usage
// chunk when stream_options.include_usage is set, then [DONE].
func (c *call) openAIChatStream() {
	in, out, truncated := c.tokens()
	rc := http.NewResponseController(c.w)
	h := c.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	c.w.WriteHeader(http.StatusOK)
	if rc.Flush() != nil {
		return
	}
	id, created, model := c.answerID("chatcmpl-sim"), time.Now().Unix(), c.modelName()
	chunk := func(choices []oaChunkChoice, usage *oaUsage) oaChunk {
		return oaChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: model, Choices: choices, Usage: usage}
	}
	send := func(v any) error {
		var line []byte
		if s, ok := v.(string); ok {
			line = []byte(s)
		} else {
			b, err := json.Marshal(v)
			if err != nil {
				return err
			}
			line = b
		}
		if _, err := fmt.Fprintf(c.w, "data: %s\n\n", line); err != nil {
			return err
		}
		return rc.Flush()
	}

	ok := c.streamContent(out, func(i int) error {
		if i == 0 {
			empty := ""
			if err := send(chunk([]oaChunkChoice{{Delta: oaDelta{Role: "assistant", Content: &empty}}}, nil)); err != nil {
				return err
			}
		}
		text := tokenText(i)
		return send(chunk([]oaChunkChoice{{Delta: oaDelta{Content: &text}}}, nil))
	}, func() error {
		code := "server_error"
		return send(openAIError{Error: openAIErrorBody{Message: "injected stream failure", Type: "server_error", Code: &code}})
	})
	if !ok {
		return
	}
	reason := finishReason(truncated)
	if send(chunk([]oaChunkChoice{{Delta: oaDelta{}, FinishReason: &reason}}, nil)) != nil {
		return
	}
	if c.req.includeUsage {
		if send(chunk([]oaChunkChoice{}, &oaUsage{PromptTokens: in, CompletionTokens: out, TotalTokens: in + out})) != nil {
			return
		}
	}
	if send("[DONE]") != nil {
		return
	}
	c.served(in, out)
}

// openAIEmbeddings answers one deterministic vector per input, as floats or,
// when encoding_format is base64, as little-endian float32 bytes.
func (c *call) openAIEmbeddings() {
	in := inputTokens(c.req.promptBytes)
	dims := c.req.dimensions
	if dims <= 0 || dims > 4096 {
		dims = defaultEmbeddingDimension
	}
	resp := oaEmbeddings{Object: "list", Model: c.modelName()}
	for i := range c.req.inputs {
		vec := make([]float32, dims)
		for j := range vec {
			vec[j] = float32(math.Sin(float64((i+1)*(j+1)))) / 2
		}
		var emb any = vec
		if c.req.base64 {
			buf := make([]byte, 4*dims)
			for j, v := range vec {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(v))
			}
			emb = base64.StdEncoding.EncodeToString(buf)
		}
		resp.Data = append(resp.Data, oaEmbedding{Object: "embedding", Index: i, Embedding: emb})
	}
	resp.Usage.PromptTokens = in
	resp.Usage.TotalTokens = in
	c.writeBody(resp)
	c.served(in, 0)
}

// Package micro holds the guard benchmark's Go micro-benchmarks of the guard's hot-path pieces, each
// beside a baseline benchmark of the same shape (see docs/benchmarks.md). guardbench.Run compiles
// them with `go test -c` and runs them pinned to one CPU; they also run as
//
//	go test -run '^$' -bench . -benchmem ./test/bench/guardbench/micro
package micro

import (
	"fmt"
	"strings"
)

// ChatBody is an OpenAI chat request of about size bytes: a system prompt and alternating turns,
// streamed and without max_tokens, so that inspection estimates the prompt, inserts the clamp and
// asks for the usage chunk (the guard's full rewrite path).
func ChatBody(size int) []byte {
	var b strings.Builder
	b.WriteString(`{"model":"gpt-sim","stream":true,"messages":[{"role":"system","content":"You are a helpful assistant for an online shop."}`)
	for i := 0; b.Len() < size-120; i++ {
		role := "user"
		if i%2 == 1 {
			role = "assistant"
		}
		fmt.Fprintf(&b, `,{"role":%q,"content":"Turn %d: where is my order? It was due on Tuesday and the tracking page has said \"in transit\" since."}`, role, i)
	}
	b.WriteString(`],"temperature":0.2}`)
	return []byte(b.String())
}

// Body4KB is the body BenchmarkInspect and BenchmarkJSONValid work on.
var Body4KB = ChatBody(4096)

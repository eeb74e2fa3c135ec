// Package sse relays Server-Sent-Events streams (OpenAI-compatible chat
// completions with stream=true) from a provider to the app, event by event.
//
// The relay must not slow the stream down: every event is written and
// flushed as soon as its terminating blank line arrives, never batched with
// the next one. It looks inside events only to read token usage and to drop
// the usage-only chunk that the guard itself asked for (see
// inspect.OpenAIChat); everything else passes through byte for byte, even
// when it is not well-formed SSE. Memory is bounded per stream: an event
// larger than maxEvent is passed through as it arrives, uninspected.
package sse

import (
	"bytes"
	"errors"
	"io"

	"github.com/breakwater-dev/breakwater/internal/guard/inspect"
)

const (
	// maxEvent bounds the bytes held for one event. Chat chunks are a few
	// hundred bytes; a larger event is unusual enough that passing it
	// through uninspected is better than holding it back.
	maxEvent = 1 << 20
	readSize = 32 << 10
)

// tail states: what to do with an LF that may follow a CR which ended an
// event at the very end of a read (the CR alone is a complete line ending,
// so the event was not held back waiting for it).
const (
	tailNone = iota
	tailWritten
	tailDropped
)

type relay struct {
	dst       io.Writer
	flush     func()
	inspect   func([]byte) bool
	firstByte func()
	maxEvent  int

	written int64
	started bool

	ev        []byte // raw bytes of the event being read
	lineStart int    // where the current line starts in ev
	lineLen   int    // bytes of the current line seen so far, without its ending
	data      []byte // the event's data lines, joined with "\n"
	hasData   bool
	afterCR   bool // the last byte was a CR ending a line; an LF next belongs to it
	passing   bool // the event outgrew maxEvent and is being written as it comes
	unflushed bool // bytes written in passing mode since the last flush
	tail      int
}

// Relay copies an SSE stream from src to dst event by event (an event ends
// at a blank line; lines end with \n, \r\n or \r), flushing after every
// event so nothing is held back, and calls onEvent with each event's data
// payload (the values of its "data:" lines joined with "\n"; onEvent must
// not keep the slice). If onEvent returns drop=true the event is not
// written. Events without data (comments such as ": keepalive") are written
// without calling onEvent. At the end of the stream an unterminated event is
// handled like a complete one, its unfinished last line left unparsed.
//
// It returns the number of bytes written to dst and the first error; it
// writes nothing it has not received. firstByte, if not nil, is called once
// just before the first byte is written to dst.
func Relay(dst io.Writer, flush func(), src io.Reader, onEvent func(data []byte) (drop bool), firstByte func()) (int64, error) {
	return relayWith(dst, flush, src, onEvent, firstByte, maxEvent)
}

func relayWith(dst io.Writer, flush func(), src io.Reader, onEvent func([]byte) bool, firstByte func(), eventCap int) (int64, error) {
	if flush == nil {
		flush = func() {}
	}
	r := &relay{dst: dst, flush: flush, inspect: onEvent, firstByte: firstByte, maxEvent: eventCap}
	buf := make([]byte, readSize)
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if err := r.feed(buf[:n]); err != nil {
				return r.written, err
			}
		}
		if rerr != nil {
			if err := r.finish(); err != nil {
				return r.written, err
			}
			if errors.Is(rerr, io.EOF) {
				return r.written, nil
			}
			return r.written, rerr
		}
	}
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
	r.written += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return err
}

// emit adds bytes of the current event: held in ev, or written at once when
// the event is being passed through. The blank line that ends an event
// (ending says so) never tips it over the cap: whether its CR and LF arrive
// in one read or two must not decide if the event is inspected.
func (r *relay) emit(p []byte, ending bool) error {
	if !r.passing && !ending && len(r.ev)+len(p) > r.maxEvent {
		// Too big to hold: send what we have and stop inspecting this event.
		r.passing = true
		err := r.write(r.ev)
		r.ev = r.ev[:0]
		r.data = r.data[:0]
		r.hasData = false
		if err != nil {
			return err
		}
	}
	if r.passing {
		r.unflushed = true
		return r.write(p)
	}
	r.ev = append(r.ev, p...)
	return nil
}

func (r *relay) feed(p []byte) error {
	i := 0
	if r.tail != tailNone {
		if p[0] == '\n' {
			if r.tail == tailWritten {
				if err := r.write(p[:1]); err != nil {
					return err
				}
				r.flush()
			}
			i = 1
		}
		r.tail = tailNone
	}
	for i < len(p) {
		if r.afterCR {
			r.afterCR = false
			if p[i] == '\n' {
				if err := r.emit(p[i:i+1], false); err != nil {
					return err
				}
				r.lineStart = len(r.ev)
				i++
				continue
			}
		}
		j := bytes.IndexAny(p[i:], "\r\n")
		if j < 0 {
			r.lineLen += len(p) - i
			if err := r.emit(p[i:], false); err != nil {
				return err
			}
			break
		}
		blank := r.lineLen == 0 && j == 0
		r.lineLen = 0
		end := i + j + 1
		if p[i+j] == '\r' {
			switch {
			case end == len(p):
				r.afterCR = true
			case p[end] == '\n':
				end++
			}
		}
		if err := r.emit(p[i:end], blank); err != nil {
			return err
		}
		if !r.passing {
			r.parseLine(r.ev[r.lineStart : len(r.ev)-(end-i-j)])
			r.lineStart = len(r.ev)
		}
		i = end
		if blank {
			dropped, err := r.dispatch()
			if err != nil {
				return err
			}
			if r.afterCR {
				r.afterCR = false
				r.tail = tailWritten
				if dropped {
					r.tail = tailDropped
				}
			}
		}
	}
	if r.passing && r.unflushed {
		r.unflushed = false
		r.flush()
	}
	return nil
}

// parseLine records a data line's value. Other fields (event, id, retry)
// and comments need no handling: the raw bytes are what gets written.
func (r *relay) parseLine(line []byte) {
	name, value := line, []byte(nil)
	if c := bytes.IndexByte(line, ':'); c >= 0 {
		name, value = line[:c], line[c+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	if string(name) != "data" {
		return
	}
	if r.hasData {
		r.data = append(r.data, '\n')
	}
	r.data = append(r.data, value...)
	r.hasData = true
}

// dispatch ends the current event: inspect it, then write and flush it
// unless it is dropped.
func (r *relay) dispatch() (dropped bool, err error) {
	defer r.reset()
	if r.passing {
		r.unflushed = false
		r.flush()
		return false, nil
	}
	if r.hasData && r.inspect != nil && r.inspect(r.data) {
		return true, nil
	}
	if len(r.ev) == 0 {
		return false, nil
	}
	if err := r.write(r.ev); err != nil {
		return false, err
	}
	r.flush()
	return false, nil
}

func (r *relay) reset() {
	r.ev = r.ev[:0]
	r.data = r.data[:0]
	r.hasData = false
	r.lineStart = 0
	r.lineLen = 0
	r.passing = false
}

// finish handles what is left when the source ends.
func (r *relay) finish() error {
	if r.passing {
		if r.unflushed {
			r.flush()
		}
		r.reset()
		return nil
	}
	if len(r.ev) == 0 {
		return nil
	}
	_, err := r.dispatch()
	return err
}

// OpenAIUsage extracts usage from one chat.completion.chunk data payload (or
// a whole non-stream JSON answer). ok is false when the payload has no
// non-null "usage". usageOnly is true when the chunk has an empty "choices"
// array and a usage object: the extra final chunk that
// stream_options.include_usage produces, which the guard drops when it
// asked for usage on the app's behalf. Payloads without the word "usage"
// (nearly every chunk) are not parsed at all; the others are validated and
// walked, not decoded (inspect.AnswerUsage).
func OpenAIUsage(data []byte) (in, out int64, usageOnly, ok bool) {
	if !bytes.Contains(data, []byte(`"usage"`)) {
		return 0, 0, false, false
	}
	in, out, choices, ok := inspect.AnswerUsage(data, inspect.OpenAIUsage)
	if !ok {
		return 0, 0, false, false
	}
	choices = bytes.TrimSpace(choices)
	if len(choices) >= 2 && choices[0] == '[' && len(bytes.TrimSpace(choices[1:len(choices)-1])) == 0 {
		usageOnly = true
	}
	return max(in, 0), max(out, 0), usageOnly, true
}

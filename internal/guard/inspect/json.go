package inspect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// The helpers below walk JSON that json.Valid has already accepted. They
// work on byte offsets so that untouched parts of a request are copied
// verbatim (same key order, spacing and escapes) and nothing is decoded that
// the guard does not need. On malformed input they stop early instead of
// panicking, but callers must validate first for the results to mean
// anything.

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// stringEnd returns the index just past the string whose opening quote is
// at b[i]. It jumps between quotes with IndexByte because prompt text is
// most of a request's bytes.
func stringEnd(b []byte, i int) int {
	j := i + 1
	for j < len(b) {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return len(b)
		}
		bs := bytes.IndexByte(b[j:j+q], '\\')
		if bs < 0 {
			return j + q + 1
		}
		j += bs + 2 // past the backslash and the character it escapes
	}
	return len(b)
}

// valueEnd returns the index just past the value starting at b[i].
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && !isSpace(b[j]) {
		j++
	}
	return j
}

// eachMember calls fn for every member of the object opening at b[i], with
// the raw key (between its quotes) and the value's span, until fn returns
// false. It returns the index of the closing brace and whether the object
// was well formed. fn does not escape, so closures stay on the stack.
func eachMember(b []byte, i int, fn func(key []byte, val, end int) bool) (closing int, ok bool) {
	if i >= len(b) || b[i] != '{' {
		return 0, false
	}
	j := skipSpace(b, i+1)
	if j < len(b) && b[j] == '}' {
		return j, true
	}
	for j < len(b) && b[j] == '"' {
		ke := stringEnd(b, j)
		if ke > len(b) || ke-1 <= j || b[ke-1] != '"' {
			return 0, false
		}
		key := b[j+1 : ke-1]
		j = skipSpace(b, ke)
		if j >= len(b) || b[j] != ':' {
			return 0, false
		}
		val := skipSpace(b, j+1)
		end := valueEnd(b, val)
		if end <= val {
			return 0, false
		}
		if !fn(key, val, end) {
			return 0, true
		}
		j = skipSpace(b, end)
		if j >= len(b) {
			return 0, false
		}
		switch b[j] {
		case ',':
			j = skipSpace(b, j+1)
		case '}':
			return j, true
		default:
			return 0, false
		}
	}
	return 0, false
}

// eachElement calls fn for every element of the array opening at b[i].
func eachElement(b []byte, i int, fn func(val, end int)) bool {
	if i >= len(b) || b[i] != '[' {
		return false
	}
	j := skipSpace(b, i+1)
	if j < len(b) && b[j] == ']' {
		return true
	}
	for j < len(b) {
		end := valueEnd(b, j)
		if end <= j {
			return false
		}
		fn(j, end)
		j = skipSpace(b, end)
		if j >= len(b) {
			return false
		}
		switch b[j] {
		case ',':
			j = skipSpace(b, j+1)
		case ']':
			return true
		default:
			return false
		}
	}
	return false
}

// member is one key/value of a parsed object, as offsets into the body.
type member struct {
	key      []byte
	val, end int
}

// object is a parsed JSON object: where it closes (for inserting members)
// and its members in order.
type object struct {
	closing int
	members []member
}

func parseObject(b []byte, i int) (object, bool) {
	// Requests have a dozen or so top-level fields; one allocation holds them.
	o := object{members: make([]member, 0, 16)}
	closing, ok := eachMember(b, i, func(key []byte, val, end int) bool {
		o.members = append(o.members, member{key: key, val: val, end: end})
		return true
	})
	o.closing = closing
	return o, ok
}

// keyIs compares a raw key to name. Keys with escapes are decoded first:
// "max\u005ftokens" means max_tokens to every upstream parser, so reading
// it raw would let a request slip past the clamp.
func keyIs(raw []byte, name string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == name
	}
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	var s string
	if err := json.Unmarshal(q, &s); err != nil {
		return false
	}
	return s == name
}

// find returns the member named name. A name given twice is an error:
// parsers disagree on which copy wins, so the guard could check one value
// while the provider uses the other.
func (o object) find(name string) (member, bool, error) {
	var found member
	n := 0
	for _, m := range o.members {
		if keyIs(m.key, name) {
			found = m
			n++
		}
	}
	if n > 1 {
		return member{}, false, fmt.Errorf("duplicate field %q", name)
	}
	return found, n == 1, nil
}

func isNull(b []byte, m member) bool { return string(b[m.val:m.end]) == "null" }

// readCount reads a token or document count. present is false for null and
// for negative values, which some servers take as "no limit", so both are
// treated as absent (and get the clamp when there is one). Fractions are
// truncated; values beyond int64 saturate.
func readCount(b []byte, m member, field string) (v int64, present bool, err error) {
	raw := b[m.val:m.end]
	if string(raw) == "null" {
		return 0, false, nil
	}
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, false, fmt.Errorf("field %q must be a number", field)
	}
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		if n < 0 {
			return 0, false, nil
		}
		return n, true, nil
	}
	// The body passed json.Valid, so the only error left is a range error,
	// for which ParseFloat still returns ±Inf or 0; both are handled below.
	f, _ := strconv.ParseFloat(string(raw), 64)
	switch {
	case f < 0:
		return 0, false, nil
	case f >= 1<<63:
		return 1<<63 - 1, true, nil
	}
	return int64(f), true, nil
}

// stringValue decodes a JSON string member; anything else yields "".
func stringValue(b []byte, m member) string {
	raw := b[m.val:m.end]
	if len(raw) < 2 || raw[0] != '"' {
		return ""
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return ""
	}
	return s
}

// edit replaces body[start:end] with text; start == end inserts.
type edit struct {
	start, end int
	text       []byte
}

// rewriter collects non-overlapping edits against the original body and
// applies them in one copy, so a request the guard leaves alone is never
// copied at all.
type rewriter struct {
	body  []byte
	edits []edit
}

func (r *rewriter) replace(m member, text []byte) {
	r.edits = append(r.edits, edit{start: m.val, end: m.end, text: text})
}

// insert adds "key":val before the object's closing brace.
func (r *rewriter) insert(o object, key string, val []byte) {
	comma := len(o.members) > 0
	for _, e := range r.edits {
		if e.start == o.closing && e.end == o.closing {
			comma = true
		}
	}
	text := make([]byte, 0, len(key)+len(val)+4)
	if comma {
		text = append(text, ',')
	}
	text = append(text, '"')
	text = append(text, key...)
	text = append(text, '"', ':')
	text = append(text, val...)
	r.edits = append(r.edits, edit{start: o.closing, end: o.closing, text: text})
}

func (r *rewriter) apply() []byte {
	if len(r.edits) == 0 {
		return r.body
	}
	slices.SortStableFunc(r.edits, func(a, b edit) int { return a.start - b.start })
	grow := 0
	for _, e := range r.edits {
		grow += len(e.text)
	}
	out := make([]byte, 0, len(r.body)+grow)
	pos := 0
	for _, e := range r.edits {
		out = append(out, r.body[pos:e.start]...)
		out = append(out, e.text...)
		pos = e.end
	}
	return append(out, r.body[pos:]...)
}

// nested renders {"a":{"b":n}} for the path a.b.
func nested(path []string, n int64) []byte {
	var out []byte
	for _, p := range path {
		out = append(out, `{"`...)
		out = append(out, p...)
		out = append(out, `":`...)
	}
	out = strconv.AppendInt(out, n, 10)
	for range path {
		out = append(out, '}')
	}
	return out
}

// capResult reports one capped field: what the request asked for and what
// the body says after the edit.
type capResult struct {
	requested int64
	present   bool  // the request set the field (not null, not negative)
	after     int64 // value after capping; 0 when the field stays absent
}

// capField lowers the count at path inside o to limit when it is larger.
// With create, an absent or null field (and any missing parent objects) is
// set to limit. limit <= 0 only reads the field. The field name in errors is
// the dotted path, never a value from the body.
func capField(r *rewriter, o object, path []string, limit int64, create bool, dotted string) (capResult, error) {
	b := r.body
	m, found, err := o.find(path[0])
	if err != nil {
		return capResult{}, err
	}
	if len(path) > 1 {
		switch {
		case !found || isNull(b, m):
			if !create || limit <= 0 {
				return capResult{}, nil
			}
			val := nested(path[1:], limit)
			if found {
				r.replace(m, val)
			} else {
				r.insert(o, path[0], val)
			}
			return capResult{after: limit}, nil
		case b[m.val] == '{':
			sub, ok := parseObject(b, m.val)
			if !ok {
				return capResult{}, errMalformed
			}
			return capField(r, sub, path[1:], limit, create, dotted)
		}
		return capResult{}, fmt.Errorf("field %q must be an object", parentPath(dotted, len(path)))
	}
	var res capResult
	if found {
		res.requested, res.present, err = readCount(b, m, dotted)
		if err != nil {
			return capResult{}, err
		}
		res.after = res.requested
	}
	if limit <= 0 {
		return res, nil
	}
	switch {
	case res.present && res.requested > limit:
		r.replace(m, strconv.AppendInt(nil, limit, 10))
		res.after = limit
	case found && !res.present:
		// null or negative: "no limit" to some servers, so it gets the cap.
		// The field exists, so the provider knows it and setting it is safe.
		r.replace(m, strconv.AppendInt(nil, limit, 10))
		res.after = limit
	case !found && create:
		r.insert(o, path[0], strconv.AppendInt(nil, limit, 10))
		res.after = limit
	}
	return res, nil
}

// parentPath trims the last remaining-1 segments from a dotted path, naming
// the object that had the wrong type.
func parentPath(dotted string, remaining int) string {
	for ; remaining > 1; remaining-- {
		i := bytes.LastIndexByte([]byte(dotted), '.')
		if i < 0 {
			break
		}
		dotted = dotted[:i]
	}
	return dotted
}

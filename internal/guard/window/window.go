// Package window counts events in a rolling time window without keeping a timestamp per event: the
// window is cut into ten buckets, so old counts age out in 10% steps, and summing it costs ten
// additions. The circuit breaker counts requests and failures with it, the retry budget requests and
// retries.
//
// A Window is not safe for concurrent use: its owners already hold a lock around their own state.
package window

import "time"

// Buckets slices the window: enough that a slice expiring moves a ratio smoothly, few enough to sum
// quickly on the hot path.
const Buckets = 10

type bucket struct {
	slot          int64 // which bucket-width slice of time the counts belong to; -1 when unused
	total, marked int64
}

// Window is a rolling count of events and of the marked ones among them (failures, retries).
type Window struct {
	width time.Duration
	base  time.Time
	last  int64 // newest slot seen; a clock stepping back keeps counting in it
	b     [Buckets]bucket
}

// New returns an empty window of the given length, starting at now.
func New(length time.Duration, now time.Time) Window {
	width := length / Buckets
	if width <= 0 {
		width = 1
	}
	w := Window{width: width, base: now}
	w.Reset()
	return w
}

// Add counts total events, marked of them, at now.
func (w *Window) Add(now time.Time, total, marked int64) {
	bk := w.current(now)
	bk.total += total
	bk.marked += marked
}

// Sums returns the counts of the window that ends at now.
func (w *Window) Sums(now time.Time) (total, marked int64) {
	cur := w.current(now).slot
	for i := range w.b {
		if bk := &w.b[i]; bk.slot >= 0 && bk.slot > cur-Buckets {
			total += bk.total
			marked += bk.marked
		}
	}
	return total, marked
}

// Reset forgets every count.
func (w *Window) Reset() {
	for i := range w.b {
		w.b[i] = bucket{slot: -1}
	}
}

// current returns the bucket for now, clearing it if it held an older slice.
func (w *Window) current(now time.Time) *bucket {
	slot := max(int64(now.Sub(w.base)/w.width), w.last)
	w.last = slot
	bk := &w.b[slot%Buckets]
	if bk.slot != slot {
		*bk = bucket{slot: slot}
	}
	return bk
}

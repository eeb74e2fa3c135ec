package window

import (
	"testing"
	"time"
)

func TestCountsAgeOutInBuckets(t *testing.T) {
	start := time.Unix(1000, 0)
	w := New(10*time.Second, start)
	w.Add(start, 4, 1)
	w.Add(start.Add(5*time.Second), 6, 3)
	for _, tc := range []struct {
		at            time.Duration
		total, marked int64
	}{
		{5 * time.Second, 10, 4},
		{9 * time.Second, 10, 4}, // both buckets inside the window
		{10 * time.Second, 6, 3}, // the first bucket aged out
		{15 * time.Second, 0, 0}, // and the second
		{-time.Hour, 0, 0},       // a clock stepping back counts in the newest slice
	} {
		total, marked := w.Sums(start.Add(tc.at))
		if total != tc.total || marked != tc.marked {
			t.Errorf("at %v: sums = %d/%d, want %d/%d", tc.at, total, marked, tc.total, tc.marked)
		}
	}
	w.Add(start, 1, 1)
	w.Reset()
	if total, marked := w.Sums(start.Add(20 * time.Second)); total != 0 || marked != 0 {
		t.Errorf("after Reset: %d/%d", total, marked)
	}
}

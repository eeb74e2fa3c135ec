package controllers

import (
	"testing"
	"time"
)

func TestRequeueAfter(t *testing.T) {
	for _, tc := range []struct {
		interval, least time.Duration
	}{
		{0, 30 * time.Second}, // the default interval
		{15 * time.Second, 15 * time.Second},
		{time.Minute, time.Minute},
	} {
		most := tc.least + time.Duration(float64(tc.least)*requeueJitter)
		src := Sources{Interval: tc.interval}
		for range 1000 {
			if got := src.requeueAfter(); got < tc.least || got > most {
				t.Fatalf("interval %s: requeueAfter %s, want within [%s, %s]", tc.interval, got, tc.least, most)
			}
		}
	}
}

package controllers

import "testing"

func TestLargest(t *testing.T) {
	for _, tt := range []struct {
		in   []int32
		want int
	}{{nil, -1}, {[]int32{0, 0}, 0}, {[]int32{10, 90}, 1}, {[]int32{50, 50}, 0}} {
		if got := largest(tt.in); got != tt.want {
			t.Errorf("largest(%v) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

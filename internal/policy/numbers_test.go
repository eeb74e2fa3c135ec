package policy

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseMoney(t *testing.T) {
	tests := []struct {
		in   string
		want NanoUSD
		str  string
	}{
		{"250", 250 * nanosPerDollar, "250"},
		{"0.003", 3_000_000, "0.003"},
		{"12.50", 12_500_000_000, "12.5"},
		{"0", 0, "0"},
		{"999999999.999999999", 999_999_999_999_999_999, "999999999.999999999"},
	}
	for _, tt := range tests {
		got, err := ParseMoney(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseMoney(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
		if got.String() != tt.str {
			t.Errorf("NanoUSD(%d).String() = %q, want %q", got, got.String(), tt.str)
		}
	}
	for _, bad := range []string{"", "1.", ".5", "-1", "1e3", "1.0000000001", "1234567890", "1,5", " 1"} {
		if got, err := ParseMoney(bad); err == nil {
			t.Errorf("ParseMoney(%q) = %d, want an error", bad, got)
		}
	}
}

func TestLargestRemainder(t *testing.T) {
	tests := []struct {
		in    []int64
		total int64
		want  []int32
	}{
		{[]int64{100, 0}, 100, []int32{100, 0}},
		{[]int64{1, 1}, 100, []int32{50, 50}},
		{[]int64{1, 1, 1}, 100, []int32{34, 33, 33}},
		{[]int64{1, 3}, 100, []int32{25, 75}},
		{[]int64{2, 1, 1, 1, 1, 1}, 100, []int32{29, 15, 14, 14, 14, 14}},
		{[]int64{0, 0}, 100, nil},
		{[]int64{-5, 5}, 100, []int32{0, 100}},
		{[]int64{70, 20, 5}, 100, []int32{74, 21, 5}},
		{nil, 100, nil},
		// Into what other targets leave (MergeWeights).
		{[]int64{50, 50}, 60, []int32{30, 30}},
		{[]int64{75, 25}, 33, []int32{25, 8}},
		{[]int64{0, 0}, 50, nil},
		{[]int64{100, 0}, 0, []int32{0, 0}},
		{[]int64{100, 0}, -10, []int32{0, 0}},
	}
	for _, tt := range tests {
		got := LargestRemainder(tt.in, tt.total)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("LargestRemainder(%v, %d) (-want +got):\n%s", tt.in, tt.total, diff)
		}
	}
}

func TestPermille(t *testing.T) {
	tests := []struct {
		used, limit int64
		want        string
	}{
		{735, 1000, "73.5"},
		{7359, 10000, "73.5"}, // rounded down, so a comparison with a threshold is exact
		{0, 10, "0.0"},
		{3, 1, "300.0"},
		{1_000_000_000_000_000, 1_000_000_000_000_000, "100.0"}, // no overflow at the API maximum
	}
	for _, tt := range tests {
		if got := formatPermille(permille(tt.used, tt.limit)); got != tt.want {
			t.Errorf("permille(%d, %d) = %s, want %s", tt.used, tt.limit, got, tt.want)
		}
	}
}

func TestUntilEndOfUTCDay(t *testing.T) {
	now := time.Date(2026, 3, 1, 20, 30, 0, 0, time.FixedZone("x", -5*3600)) // 01:30 UTC on March 2
	if got, want := untilEndOfUTCDay(now), 22*time.Hour+30*time.Minute; got != want {
		t.Errorf("untilEndOfUTCDay = %s, want %s", got, want)
	}
}

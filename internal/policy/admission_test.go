package policy

import "testing"

func TestLearnedLimitChange(t *testing.T) {
	for _, tc := range []struct {
		announced, percent float64
		want               int
	}{
		{100, 95, 0}, {100, 90, -1}, {45, 54.9, 0}, {45, 55, 1}, {95, 100, 1}, {100, 100, 0}, {36, 30, 0},
	} {
		if got := LearnedLimitChange(tc.announced, tc.percent); got != tc.want {
			t.Errorf("LearnedLimitChange(%g, %g) = %d, want %d", tc.announced, tc.percent, got, tc.want)
		}
	}
}

func TestDecisionTokensPerMinute(t *testing.T) {
	for _, tc := range []struct{ configured, learned, want int64 }{
		{1000, 0, 1000}, {1000, 360, 360}, {1000, 1000, 1000}, {1000, 1200, 1000}, {0, 360, 0},
	} {
		if got := DecisionTokensPerMinute(tc.configured, tc.learned); got != tc.want {
			t.Errorf("DecisionTokensPerMinute(%d, %d) = %d, want %d", tc.configured, tc.learned, got, tc.want)
		}
	}
}

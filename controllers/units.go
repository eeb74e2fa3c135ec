package controllers

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// secondsDuration converts seconds; +Inf (above the histogram's largest bucket) becomes the
// longest duration, so that a latency trigger fires on it.
func secondsDuration(s float64) time.Duration {
	if math.IsInf(s, 1) || s*float64(time.Second) >= math.MaxInt64 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(s * float64(time.Second))
}

// decimal writes a figure with at most two decimals and no trailing zeros ("0.42", "12", "3.5").
func decimal(v float64) string {
	s := strconv.FormatFloat(max(v, 0), 'f', 2, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

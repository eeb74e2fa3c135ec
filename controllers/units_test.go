package controllers

import "testing"

func TestDecimal(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 0.42: "0.42", 12: "12", 3.5: "3.5", 33.3333: "33.33", -1: "0", 0.004: "0"} {
		if got := decimal(v); got != want {
			t.Errorf("decimal(%v) = %q, want %q", v, got, want)
		}
	}
}

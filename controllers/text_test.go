package controllers

import "testing"

func TestTruncate(t *testing.T) {
	if got := truncate("ab€cd", 6); got != "ab…" {
		t.Errorf("truncate = %q", got)
	}
	if got := truncate("short", 10); got != "short" {
		t.Errorf("truncate = %q", got)
	}
}

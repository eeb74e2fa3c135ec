package controllers

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxShiftMessage is the API's bound on status.lastShift.message.
const maxShiftMessage = 1024

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// namesList writes names for a condition message: sorted, quoted, comma-separated.
func namesList(names []string) string {
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	quoted := make([]string, len(sorted))
	for i, n := range sorted {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(quoted, ", ")
}

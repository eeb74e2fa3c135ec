//go:build race

package inspect

// raceEnabled: the race detector's instrumentation makes values escape, so allocation counts
// are only checked without it.
const raceEnabled = true

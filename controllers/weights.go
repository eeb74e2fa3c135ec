package controllers

// largest returns the index of the largest weight, the first one on a tie (targets are listed
// most preferred first), or -1 for none: the active target of a ModelEndpoint or FailoverPolicy.
func largest(weights []int32) int {
	best := -1
	for i, w := range weights {
		if best < 0 || w > weights[best] {
			best = i
		}
	}
	return best
}

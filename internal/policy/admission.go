package policy

// LearnedLimitEventStep is how far, in points of the configured limits, a TokenQuota's learned
// limit must move from the value last announced for an Event: the share moves a little with every
// throttle and every minute of recovery.
const LearnedLimitEventStep = 10.0

// LearnedLimitChange says whether a learned limit of percent (of the configured limits) is worth
// an Event after announced was the last one: -1 lowered, +1 raised (also when it is whole again),
// 0 not yet.
func LearnedLimitChange(announced, percent float64) int {
	switch {
	case percent <= announced-LearnedLimitEventStep:
		return -1
	case percent >= announced+LearnedLimitEventStep || (percent == 100 && announced < 100):
		return 1
	}
	return 0
}

// DecisionTokensPerMinute is the tokens-per-minute limit the quota loop decides on: the learned
// one when shared admission learned a limit below the configured one (usage held there by
// admission is the quota used up), else the configured one. learned 0 is none learned.
func DecisionTokensPerMinute(configured, learned int64) int64 {
	if learned > 0 && learned < configured {
		return learned
	}
	return configured
}

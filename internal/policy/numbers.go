package policy

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// NanoUSD is an amount of US dollars in billionths of a dollar. Money never goes through a float:
// the API's Money has at most nine decimals, so every valid amount is an exact NanoUSD, and the
// largest one (999999999.999999999) fits in an int64.
type NanoUSD int64

const nanosPerDollar = 1_000_000_000

// ParseMoney reads a decimal amount of dollars such as "250" or "0.003" (the API's Money format:
// digits, an optional point and at most nine decimals).
func ParseMoney(s string) (NanoUSD, error) {
	whole, frac, hasPoint := strings.Cut(s, ".")
	if whole == "" || len(whole) > 9 || (hasPoint && (frac == "" || len(frac) > 9)) || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("money %q: want digits, an optional point and at most 9 decimals", s)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("money %q: %w", s, err)
	}
	var f int64
	if frac != "" {
		f, err = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("money %q: %w", s, err)
		}
	}
	return NanoUSD(w*nanosPerDollar + f), nil
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// String prints the amount in dollars without trailing zeros, e.g. "250" or "0.003".
func (n NanoUSD) String() string {
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	s := strconv.FormatInt(int64(n/nanosPerDollar), 10)
	if f := int64(n % nanosPerDollar); f != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%09d", f), "0")
	}
	return sign + s
}

// mulDiv returns floor(a*b/c) for non-negative a, b and positive c, exactly, saturating at
// MaxInt64. Usage can be as large as 10^15 tokens a day, so a*b may not fit in 64 bits.
func mulDiv(a, b, c int64) int64 {
	if c <= 0 {
		return math.MaxInt64
	}
	var x big.Int
	x.Mul(big.NewInt(a), big.NewInt(b))
	x.Quo(&x, big.NewInt(c))
	if !x.IsInt64() {
		return math.MaxInt64
	}
	return x.Int64()
}

// permille is used/limit in tenths of a percent, rounded down, so that comparing it with a
// threshold in tenths of a percent is exact: floor(x) >= n exactly when x >= n for a whole n.
func permille(used, limit int64) int64 {
	if used <= 0 {
		return 0
	}
	return mulDiv(used, 1000, limit)
}

// formatPermille prints tenths of a percent as a decimal string, e.g. 735 as "73.5".
func formatPermille(p int64) string {
	return fmt.Sprintf("%d.%d", p/10, p%10)
}

// ratePermille is part/whole in tenths of a percent, for error and throttle rates.
func ratePermille(part, whole int64) int64 {
	if whole <= 0 || part <= 0 {
		return 0
	}
	return mulDiv(part, 1000, whole)
}

// untilEndOfUTCDay is the time left in now's UTC day.
func untilEndOfUTCDay(now time.Time) time.Duration {
	u := now.UTC()
	midnight := time.Date(u.Year(), u.Month(), u.Day()+1, 0, 0, 0, 0, time.UTC)
	return midnight.Sub(u)
}

// LargestRemainder scales non-negative weights so that they sum to exactly total, rounding with
// the largest-remainder method: every share is rounded down, then the points still missing go one
// each to the largest remainders, ties to the earlier (more preferred) entry. Negative weights
// count as zero. It returns nil when the weights sum to zero, and zeros when total is not positive.
// Every weight the manager writes or renders is rounded by it.
func LargestRemainder(weights []int64, total int64) []int32 {
	var sum int64
	for _, w := range weights {
		if w > 0 {
			sum += w
		}
	}
	if sum == 0 {
		return nil
	}
	out := make([]int32, len(weights))
	if total <= 0 {
		return out
	}
	rems := make([]int64, len(weights))
	var given int64
	for i, w := range weights {
		if w <= 0 {
			rems[i] = -1
			continue
		}
		q := mulDiv(w, total, sum)
		out[i] = int32(q)
		given += q
		rems[i] = w*total - q*sum
	}
	for ; given < total; given++ {
		best := -1
		for i, r := range rems {
			if r >= 0 && (best < 0 || r > rems[best]) {
				best = i
			}
		}
		out[best]++
		rems[best] = -1
	}
	return out
}

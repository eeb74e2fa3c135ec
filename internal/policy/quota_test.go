package policy

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	breakwaterv1alpha1 "github.com/breakwater-dev/breakwater/api/v1alpha1"
)

// noon is 12:00 UTC: half a day, 720 minutes, is left for projections.
var noon = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func money(t testing.TB, s string) *NanoUSD {
	t.Helper()
	n, err := ParseMoney(s)
	if err != nil {
		t.Fatal(err)
	}
	return &n
}

// quotaOutcome is the part of a QuotaPlan the table checks; messages are checked separately.
type quotaOutcome struct {
	State       breakwaterv1alpha1.QuotaState
	Changed     bool
	UsedPercent string
	Binding     Limit
	Reason      string
	Clamp       int64
}

func outcome(p QuotaPlan) quotaOutcome {
	return quotaOutcome{p.State, p.Changed, p.UsedPercent, p.Binding, p.Reason, p.OutputTokenClamp}
}

func TestQuotaState(t *testing.T) {
	tpm := func(used int64) QuotaInput {
		return QuotaInput{
			Now:             noon,
			Limits:          QuotaLimits{TokensPerMinute: 400_000},
			Usage:           QuotaUsage{TokensPerMinute: new(used)},
			MaxOutputTokens: 4096,
		}
	}
	with := func(in QuotaInput, prev breakwaterv1alpha1.QuotaState, ago time.Duration) QuotaInput {
		in.Previous, in.PreviousSince = prev, noon.Add(-ago)
		return in
	}
	const (
		normal    = breakwaterv1alpha1.QuotaNormal
		warning   = breakwaterv1alpha1.QuotaWarning
		shedding  = breakwaterv1alpha1.QuotaShedding
		exhausted = breakwaterv1alpha1.QuotaExhausted
	)
	tests := []struct {
		name string
		in   QuotaInput
		want quotaOutcome
	}{
		{"below warn", tpm(200_000),
			quotaOutcome{normal, false, "50.0", LimitTokensPerMinute, breakwaterv1alpha1.ReasonWithinLimits, 0}},
		{"warn threshold reached", tpm(320_000),
			quotaOutcome{warning, true, "80.0", LimitTokensPerMinute, breakwaterv1alpha1.ReasonWarnThresholdReached, 2048}},
		{"just below warn", tpm(319_999),
			quotaOutcome{normal, false, "79.9", LimitTokensPerMinute, breakwaterv1alpha1.ReasonWithinLimits, 0}},
		{"straight to shedding", tpm(380_000),
			quotaOutcome{shedding, true, "95.0", LimitTokensPerMinute, breakwaterv1alpha1.ReasonShedThresholdReached, 2048}},
		{"exhausted", tpm(400_000),
			quotaOutcome{exhausted, true, "100.0", LimitTokensPerMinute, breakwaterv1alpha1.ReasonHardLimitReached, 2048}},
		{"escalation ignores dwell", with(tpm(400_000), shedding, time.Second),
			quotaOutcome{exhausted, true, "100.0", LimitTokensPerMinute, breakwaterv1alpha1.ReasonHardLimitReached, 2048}},
		{"stays in state", with(tpm(370_000), shedding, time.Hour),
			quotaOutcome{shedding, false, "92.5", LimitTokensPerMinute, breakwaterv1alpha1.ReasonShedThresholdReached, 2048}},
		{"below threshold, inside margin: held", with(tpm(348_000), shedding, time.Hour),
			quotaOutcome{shedding, false, "87.0", LimitTokensPerMinute, breakwaterv1alpha1.ReasonRecovering, 2048}},
		{"below threshold minus margin: down", with(tpm(336_000), shedding, time.Hour),
			quotaOutcome{warning, true, "84.0", LimitTokensPerMinute, breakwaterv1alpha1.ReasonWarnThresholdReached, 2048}},
		{"far below, inside dwell: held", with(tpm(40_000), shedding, time.Minute),
			quotaOutcome{shedding, false, "10.0", LimitTokensPerMinute, breakwaterv1alpha1.ReasonRecovering, 2048}},
		{"far below after dwell: straight to normal", with(tpm(40_000), exhausted, 2*time.Minute),
			quotaOutcome{normal, true, "10.0", LimitTokensPerMinute, breakwaterv1alpha1.ReasonWithinLimits, 0}},
		{"warning left at 74.9", with(tpm(299_600), warning, time.Hour),
			quotaOutcome{normal, true, "74.9", LimitTokensPerMinute, breakwaterv1alpha1.ReasonWithinLimits, 0}},
		{"warning held at 75.0", with(tpm(300_000), warning, time.Hour),
			quotaOutcome{warning, false, "75.0", LimitTokensPerMinute, breakwaterv1alpha1.ReasonRecovering, 2048}},
		{"zero since counts as dwelt", QuotaInput{
			Now: noon, Limits: QuotaLimits{TokensPerMinute: 400_000}, Usage: QuotaUsage{TokensPerMinute: new(int64(0))},
			Previous: warning,
		},
			quotaOutcome{normal, true, "0.0", LimitTokensPerMinute, breakwaterv1alpha1.ReasonWithinLimits, 0}},
		{"missing metric holds", func() QuotaInput {
			in := with(tpm(0), warning, time.Hour)
			in.Usage.TokensPerMinute = nil
			return in
		}(), quotaOutcome{warning, false, "", "", breakwaterv1alpha1.ReasonMetricsUnavailable, 2048}},
		{"missing metric never lowers", func() QuotaInput {
			in := with(tpm(0), shedding, time.Hour)
			in.Limits.TokensPerDay = 10_000_000
			in.Usage.TokensToday = new(int64(1_000)) // 0.0%, but tokens per minute is unknown
			in.Usage.TokensPerMinute = nil
			return in
		}(), quotaOutcome{shedding, false, "0.0", LimitTokensPerDay, breakwaterv1alpha1.ReasonMetricsUnavailable, 2048}},
		{"partial data escalates", func() QuotaInput {
			in := with(tpm(400_000), warning, time.Second)
			in.Limits.TokensPerDay = 10_000_000
			return in // tokens today unknown
		}(), quotaOutcome{exhausted, true, "100.0", LimitTokensPerMinute, breakwaterv1alpha1.ReasonHardLimitReached, 2048}},
		{"daily tokens projected over budget", QuotaInput{
			Now:    noon,
			Limits: QuotaLimits{TokensPerDay: 1_000_000},
			// 300000 today + 1000/min for 720 min = 1020000: 102%.
			Usage: QuotaUsage{TokensToday: new(int64(300_000)), TokensPerMinute: new(int64(1_000))},
		}, quotaOutcome{warning, true, "30.0", LimitTokensPerDay, breakwaterv1alpha1.ReasonProjectedOverBudget, DefaultClampUnset}},
		{"daily tokens projected under budget", QuotaInput{
			Now:    noon,
			Limits: QuotaLimits{TokensPerDay: 1_000_000},
			Usage:  QuotaUsage{TokensToday: new(int64(300_000)), TokensPerMinute: new(int64(900))},
		}, quotaOutcome{normal, false, "30.0", LimitTokensPerDay, breakwaterv1alpha1.ReasonWithinLimits, 0}},
		{"cost binding", QuotaInput{
			Now:    noon,
			Limits: QuotaLimits{TokensPerMinute: 400_000, CostPerDay: *money(t, "250")},
			Usage:  QuotaUsage{TokensPerMinute: new(int64(40_000)), CostToday: money(t, "230.5")},
		}, quotaOutcome{shedding, true, "92.2", LimitCostPerDay, breakwaterv1alpha1.ReasonShedThresholdReached, DefaultClampUnset}},
		{"cost projected over budget", QuotaInput{
			Now:    noon,
			Limits: QuotaLimits{CostPerDay: *money(t, "100")},
			// 40 spent + 0.1/min for 720 min = 112: 112%.
			Usage: QuotaUsage{CostToday: money(t, "40"), CostPerMinute: money(t, "0.1")},
		}, quotaOutcome{warning, true, "40.0", LimitCostPerDay, breakwaterv1alpha1.ReasonProjectedOverBudget, DefaultClampUnset}},
		{"no limit known", QuotaInput{Now: noon, Previous: warning},
			quotaOutcome{warning, false, "", "", breakwaterv1alpha1.ReasonLimitUnresolved, DefaultClampUnset}},
		{"custom thresholds", func() QuotaInput {
			in := tpm(200_000)
			in.WarnPercent, in.ShedPercent, in.HardPercent = 40, 50, 60
			return in
		}(), quotaOutcome{shedding, true, "50.0", LimitTokensPerMinute, breakwaterv1alpha1.ReasonShedThresholdReached, 2048}},
		{"low threshold margin is capped at half", func() QuotaInput {
			in := with(tpm(10_000), warning, time.Hour) // 2.5%: below 4-5 but not below 4/2
			in.WarnPercent = 4
			return in
		}(), quotaOutcome{warning, false, "2.5", LimitTokensPerMinute, breakwaterv1alpha1.ReasonRecovering, 2048}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := QuotaState(tt.in)
			if diff := cmp.Diff(tt.want, outcome(got)); diff != "" {
				t.Errorf("QuotaState (-want +got):\n%s\nmessage: %s", diff, got.Message)
			}
			if got.Message == "" {
				t.Error("empty message")
			}
			wantSince := tt.in.PreviousSince
			if got.Changed {
				wantSince = tt.in.Now
			}
			if !got.Since.Equal(wantSince) {
				t.Errorf("Since = %s, want %s", got.Since, wantSince)
			}
		})
	}
}

func TestQuotaMessages(t *testing.T) {
	in := QuotaInput{
		Now:             noon,
		Limits:          QuotaLimits{TokensPerMinute: 400_000},
		Usage:           QuotaUsage{TokensPerMinute: new(int64(348_000))},
		MaxOutputTokens: 4096,
		Previous:        breakwaterv1alpha1.QuotaShedding,
		PreviousSince:   noon.Add(-time.Hour),
	}
	got := QuotaState(in).Message
	want := "Usage is 87.0% of 400000 tokens/min, below the 90% shed threshold; Shedding is held until usage is below 85.0% and the state is at least 2m0s old."
	if got != want {
		t.Errorf("Recovering message:\n got %s\nwant %s", got, want)
	}

	in.Usage.TokensPerMinute = new(int64(40_000))
	in.PreviousSince = noon.Add(-time.Minute)
	got = QuotaState(in).Message
	want = "Usage is 10.0% of 400000 tokens/min, below the 90% shed threshold; Shedding is held until the state is at least 2m0s old (since 2026-11-24T11:59:00Z)."
	if got != want {
		t.Errorf("dwell message:\n got %s\nwant %s", got, want)
	}

	proj := QuotaInput{
		Now:      noon,
		Limits:   QuotaLimits{TokensPerDay: 1_000_000},
		Usage:    QuotaUsage{TokensToday: new(int64(300_000)), TokensPerMinute: new(int64(950))}, // 98.4% projected
		Previous: breakwaterv1alpha1.QuotaWarning, PreviousSince: noon.Add(-time.Hour),
	}
	if p := QuotaState(proj); p.Reason != breakwaterv1alpha1.ReasonRecovering || p.State != breakwaterv1alpha1.QuotaWarning {
		t.Errorf("projection inside the margin: %s %s, want Warning Recovering", p.State, p.Reason)
	} else if want := "Usage is 30.0% of 1000000 tokens/day, below the 80% warn threshold, but a daily budget is projected at 98.4% by 00:00 UTC; Warning is held until the projection is below 95.0%."; p.Message != want {
		t.Errorf("projection message:\n got %s\nwant %s", p.Message, want)
	}
	proj.Usage.TokensPerMinute = new(int64(900)) // 94.8% projected
	if p := QuotaState(proj); p.State != breakwaterv1alpha1.QuotaNormal {
		t.Errorf("projection below the margin: %s %s, want Normal", p.State, p.Reason)
	}

	in.PreviousSince = noon.Add(-time.Hour)
	in.Previous = breakwaterv1alpha1.QuotaWarning
	in.Usage.TokensPerMinute = new(int64(360_000))
	got = QuotaState(in).Message
	want = "Quota moved from Warning to Shedding: usage is 90.0% of 400000 tokens/min (shed threshold 90%); sheddable, then standard workloads are shed; output tokens are clamped to 2048."
	if got != want {
		t.Errorf("escalation message:\n got %s\nwant %s", got, want)
	}

	in.Usage.TokensPerMinute = nil
	got = QuotaState(in).Message
	want = "Usage of tokensPerMinute could not be measured; holding Warning until it can."
	if got != want {
		t.Errorf("MetricsUnavailable message:\n got %s\nwant %s", got, want)
	}
}

func TestOutputTokenClamp(t *testing.T) {
	tests := []struct {
		maxOutput, floor, want int64
	}{
		{4096, 0, 2048},
		{300, 0, 256},   // half is 150: the floor wins
		{100, 0, 100},   // never above the endpoint's own clamp
		{0, 0, 1024},    // no endpoint clamp: DefaultClampUnset
		{0, 2000, 2000}, // a floor above DefaultClampUnset wins
		{4096, 3000, 3000},
	}
	for _, tt := range tests {
		in := QuotaInput{MaxOutputTokens: tt.maxOutput, ClampFloor: tt.floor}.withDefaults()
		if got := in.clamp(breakwaterv1alpha1.QuotaWarning); got != tt.want {
			t.Errorf("clamp(max %d, floor %d) = %d, want %d", tt.maxOutput, tt.floor, got, tt.want)
		}
		if got := in.clamp(breakwaterv1alpha1.QuotaNormal); got != 0 {
			t.Errorf("clamp in Normal = %d, want 0", got)
		}
	}
}

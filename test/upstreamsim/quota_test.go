package upstreamsim

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// fakeClock is the provider quota's clock in tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestProviderQuotaRequestsPerMinute(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
	opts := signedOpts()
	opts.Quota, opts.Now = Quota{RequestsPerMinute: 2}, clock.Now
	sim := startSim(t, opts)
	client := bedrockClient(sim.URL(), testRegion, testAKID, testSecret)
	for i := range 2 {
		if _, err := client.Converse(testCtx(t), converseInput(claudeID, 5)); err != nil {
			t.Fatalf("request %d within the quota: %v", i+1, err)
		}
	}
	_, err := client.Converse(testCtx(t), converseInput(claudeID, 5))
	var throttled *types.ThrottlingException
	if !errors.As(err, &throttled) || !strings.Contains(throttled.ErrorMessage(), "Too many requests") {
		t.Fatalf("third request in the minute: %v, want a ThrottlingException (Too many requests)", err)
	}
	clock.add(61 * time.Second)
	if _, err := client.Converse(testCtx(t), converseInput(claudeID, 5)); err != nil {
		t.Fatalf("a minute later: %v", err)
	}
	if st := sim.Stats(); st.QuotaThrottled != 1 || st.Throttled != 1 || st.Requests[RouteBedrockConverse] != 4 {
		t.Errorf("stats %+v, want 1 quota throttle of 4 converse requests", st)
	}
}

// Bedrock's way: a request reserves input + max output tokens at its start and is settled to what
// it used, so a limit that one request's reservation fills still serves more once they settle.
func TestProviderQuotaReservesMaxTokensAndSettles(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
	opts := signedOpts()
	opts.OutputTokens, opts.Now = 8, clock.Now
	sim := startSim(t, opts)
	client := bedrockClient(sim.URL(), testRegion, testAKID, testSecret)
	first, err := client.Converse(testCtx(t), converseInput(claudeID, 100))
	if err != nil {
		t.Fatal(err)
	}
	in := int64(*first.Usage.InputTokens)
	// Room for one reservation of in+100 next to two settled answers of in+8, not for three.
	limit := 2*(in+8) + in + 100
	sim.SetQuota(Quota{TokensPerMinute: limit})
	for i := range 3 {
		if _, err := client.Converse(testCtx(t), converseInput(claudeID, 100)); err != nil {
			t.Fatalf("request %d: %v (each settles to %d tokens of the %d limit)", i+1, err, in+8, limit)
		}
	}
	_, err = client.Converse(testCtx(t), converseInput(claudeID, 100))
	var throttled *types.ThrottlingException
	if !errors.As(err, &throttled) || !strings.Contains(throttled.ErrorMessage(), "Too many tokens") {
		t.Fatalf("fourth request: %v, want a ThrottlingException (Too many tokens): its reservation of %d does not fit", err, in+100)
	}
	if peak := sim.QuotaPeak(); peak > limit || peak != 2*(in+8)+in+100 {
		t.Errorf("peak of the rolling minute %d, want %d (never above the limit %d)", peak, 2*(in+8)+in+100, limit)
	}
	// A smaller reservation still fits.
	if _, err := client.Converse(testCtx(t), converseInput(claudeID, 8)); err != nil {
		t.Errorf("a request reserving only %d tokens: %v", in+8, err)
	}
	sim.SetQuota(Quota{})
	if _, err := client.Converse(testCtx(t), converseInput(claudeID, 100)); err != nil {
		t.Errorf("with the quota lifted: %v", err)
	}
}

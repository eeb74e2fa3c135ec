package quota

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type fakeClock struct{ t time.Time }

func newClock() *fakeClock               { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }

// op is one scripted call on a bucket.
type op struct {
	advance  time.Duration
	reserve  int64 // Reserve(reserve) when non-zero
	settle   [2]int64
	setRate  int64 // SetRate when non-zero
	wantOK   bool  // result of Reserve
	wantLeft int64 // Available() after the op
}

func TestBucket(t *testing.T) {
	tests := []struct {
		name string
		rate int64
		ops  []op
	}{
		{
			name: "starts full and reserves",
			rate: 600,
			ops: []op{
				{reserve: 500, wantOK: true, wantLeft: 100},
				{reserve: 101, wantOK: false, wantLeft: 100},
				{reserve: 100, wantOK: true, wantLeft: 0},
			},
		},
		{
			name: "refills continuously",
			rate: 600, // 10 per second
			ops: []op{
				{reserve: 600, wantOK: true, wantLeft: 0},
				{advance: 1500 * time.Millisecond, wantLeft: 15},
				{reserve: 16, wantOK: false, wantLeft: 15},
				{advance: 100 * time.Millisecond, reserve: 16, wantOK: true, wantLeft: 0},
			},
		},
		{
			name: "refill stops at capacity",
			rate: 600,
			ops: []op{
				{reserve: 100, wantOK: true, wantLeft: 500},
				{advance: time.Hour, wantLeft: 600},
			},
		},
		{
			name: "settle returns unused tokens",
			rate: 1000,
			ops: []op{
				{reserve: 800, wantOK: true, wantLeft: 200},
				{settle: [2]int64{800, 300}, wantLeft: 700},
			},
		},
		{
			name: "settle can leave debt that blocks until repaid",
			rate: 600,
			ops: []op{
				{reserve: 500, wantOK: true, wantLeft: 100},
				{settle: [2]int64{500, 1300}, wantLeft: -700},
				{reserve: 1, wantOK: false, wantLeft: -700},
				{advance: 70 * time.Second, wantLeft: 0},
				{advance: time.Second, reserve: 10, wantOK: true, wantLeft: 0},
			},
		},
		{
			name: "settle never overfills",
			rate: 100,
			ops: []op{
				{settle: [2]int64{500, 0}, wantLeft: 100},
			},
		},
		{
			name: "lower rate clamps the level",
			rate: 1000,
			ops: []op{
				{setRate: 300, wantLeft: 300},
				{advance: time.Hour, wantLeft: 300},
			},
		},
		{
			name: "higher rate keeps the level",
			rate: 100,
			ops: []op{
				{reserve: 100, wantOK: true, wantLeft: 0},
				{setRate: 6000, wantLeft: 0},
				{advance: time.Second, wantLeft: 100},
			},
		},
		{
			name: "zero rate allows nothing",
			rate: 0,
			ops: []op{
				{reserve: 1, wantOK: false, wantLeft: 0},
				{advance: time.Hour, reserve: 1, wantOK: false, wantLeft: 0},
			},
		},
		{
			name: "clock stepping back mints nothing",
			rate: 600,
			ops: []op{
				{reserve: 600, wantOK: true, wantLeft: 0},
				{advance: -time.Hour, wantLeft: 0},
				{advance: time.Hour + time.Second, wantLeft: 10},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			b := NewBucket(tc.rate, c.now)
			for i, o := range tc.ops {
				c.add(o.advance)
				if o.setRate != 0 {
					b.SetRate(o.setRate)
				}
				if o.settle != [2]int64{} {
					b.Settle(o.settle[0], o.settle[1])
				}
				if o.reserve != 0 {
					if got := b.Reserve(o.reserve); got != o.wantOK {
						t.Fatalf("op %d: Reserve(%d) = %v, want %v", i, o.reserve, got, o.wantOK)
					}
				}
				if got := b.Available(); got != o.wantLeft {
					t.Fatalf("op %d: Available() = %d, want %d", i, got, o.wantLeft)
				}
			}
		})
	}
}

func TestReserveNonPositive(t *testing.T) {
	b := NewBucket(0, newClock().now)
	got := []bool{b.Reserve(0), b.Reserve(-5)}
	if diff := cmp.Diff([]bool{true, true}, got); diff != "" {
		t.Error(diff)
	}
}

func TestConcurrentNeverOverspends(t *testing.T) {
	c := newClock()
	b := NewBucket(10000, c.now)
	var mu sync.Mutex
	granted := int64(0)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				if b.Reserve(3) {
					mu.Lock()
					granted += 3
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if granted > 10000 || b.Available() < 0 || granted+b.Available() != 10000 {
		t.Fatalf("granted %d, left %d: tokens created or lost", granted, b.Available())
	}
}

func BenchmarkBucketReserve(b *testing.B) {
	bk := NewBucket(1<<50, time.Now)
	b.ReportAllocs()
	for b.Loop() {
		bk.Reserve(1000)
	}
}

func BenchmarkBucketReserveSettle(b *testing.B) {
	bk := NewBucket(1<<50, time.Now)
	b.ReportAllocs()
	for b.Loop() {
		if bk.Reserve(1000) {
			bk.Settle(1000, 900)
		}
	}
}

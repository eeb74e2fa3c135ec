// Package loadgen is the load generator of the guard benchmark (cmd/loadgen runs it as a process
// pinned to its own CPU).
//
// Rate mode is open-loop: request i is due at start + i/rate whatever happened to the ones before,
// and its latency is measured from that scheduled time, not from when it was actually sent, so a
// proxy that stalls is charged for every request that had to wait behind the stall (coordinated
// omission corrected). Max mode is closed-loop: a fixed number of workers send back to back, to find
// the highest rate a proxy sustains. Streams mode opens many streams at once and holds them, so that
// the proxy's memory with that many open streams can be read.
package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Modes.
const (
	ModeRate    = "rate"
	ModeMax     = "max"
	ModeStreams = "streams"
)

// First-event framings: what ends the first streamed event of an answer.
const (
	FirstEventNone        = ""            // latency is to the last byte of the answer
	FirstEventSSE         = "sse"         // a blank line ends the first server-sent event
	FirstEventEventStream = "eventstream" // the first AWS event-stream message, by its length prelude
)

// Signing signs each request with SigV4, as an AWS SDK would (for calls straight to the simulator).
type Signing struct {
	Region, Service, AccessKeyID, SecretAccessKey string
}

// Config is one run.
type Config struct {
	Mode        string
	URL         string
	Body        []byte
	Header      http.Header
	Sign        *Signing
	Rate        float64       // rate mode: requests per second
	Duration    time.Duration // measured part (rate, max); hold time (streams)
	Warmup      time.Duration // sent but not measured (rate, max)
	Concurrency int           // max mode: workers; streams mode: streams opened at once
	Streams     int           // streams mode: streams to hold open
	FirstEvent  string        // rate and streams modes: see FirstEvent*
	// Ready, in streams mode, is called once every stream has its first event (or failed), while
	// they are held open.
	Ready func(Result)
}

// Result is what a run measured. Latencies are in microseconds.
type Result struct {
	Mode             string           `json:"mode"`
	Sent             int64            `json:"sent"`     // requests sent, warm-up included
	Measured         int64            `json:"measured"` // requests in the measured part
	OK               int64            `json:"ok"`       // measured requests answered 2xx and read whole
	Errors           int64            `json:"errors"`   // measured requests that failed or were not 2xx
	Statuses         map[string]int64 `json:"statuses"` // every request by status ("error" when none)
	FirstError       string           `json:"first_error,omitempty"`
	P50US            float64          `json:"p50_us"`
	P90US            float64          `json:"p90_us"`
	P99US            float64          `json:"p99_us"`
	P999US           float64          `json:"p999_us"`
	MaxUS            float64          `json:"max_us"`
	MeanUS           float64          `json:"mean_us"`
	RPS              float64          `json:"rps"` // measured OK requests per second
	BytesPerResponse float64          `json:"bytes_per_response"`
	Open             int64            `json:"open,omitempty"` // streams mode: streams holding after their first event
	WallSeconds      float64          `json:"wall_seconds"`
}

// ScheduledAt is when request i of an open-loop run at rate per second is due.
func ScheduledAt(start time.Time, rate float64, i int64) time.Time {
	return start.Add(time.Duration(float64(i) * float64(time.Second) / rate))
}

// Percentile is the nearest-rank percentile (0 < p <= 100) of sorted values; 0 for none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Summarize fills the latency fields of r from the measured latencies (sorted in place).
func Summarize(r *Result, lat []time.Duration) {
	slices.Sort(lat)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	r.P50US, r.P90US, r.P99US, r.P999US = us(Percentile(lat, 50)), us(Percentile(lat, 90)), us(Percentile(lat, 99)), us(Percentile(lat, 99.9))
	if len(lat) > 0 {
		r.MaxUS = us(lat[len(lat)-1])
		var sum time.Duration
		for _, d := range lat {
			sum += d
		}
		r.MeanUS = us(sum / time.Duration(len(lat)))
	}
}

// recorder collects outcomes from many goroutines.
type recorder struct {
	mu       sync.Mutex
	lat      []time.Duration
	statuses map[string]int64
	ok, errs int64
	bytes    int64
	first    string
}

func newRecorder(n int) *recorder {
	return &recorder{lat: make([]time.Duration, 0, n), statuses: map[string]int64{}}
}

// record notes one request; measured says whether it counts in the figures.
func (rc *recorder) record(measured bool, status int, err error, lat time.Duration, n int64) {
	key := "error"
	if status != 0 {
		key = strconv.Itoa(status)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.statuses[key]++
	failed := err != nil || status < 200 || status > 299
	if failed && rc.first == "" {
		if err != nil {
			rc.first = err.Error()
		} else {
			rc.first = "status " + key
		}
	}
	if !measured {
		return
	}
	if failed {
		rc.errs++
		return
	}
	rc.ok++
	rc.bytes += n
	rc.lat = append(rc.lat, lat)
}

func (rc *recorder) result(mode string, sent int64, measuredTime, wall time.Duration) Result {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	r := Result{Mode: mode, Sent: sent, Measured: rc.ok + rc.errs, OK: rc.ok, Errors: rc.errs,
		Statuses: rc.statuses, FirstError: rc.first, WallSeconds: wall.Seconds()}
	if rc.ok > 0 {
		r.BytesPerResponse = float64(rc.bytes) / float64(rc.ok)
	}
	if measuredTime > 0 {
		r.RPS = float64(rc.ok) / measuredTime.Seconds()
	}
	Summarize(&r, rc.lat)
	return r
}

// requestTimeout bounds one request in rate and max modes, so that a proxy that never answers
// ends the run with errors instead of hanging it.
const requestTimeout = 30 * time.Second

// client is one HTTP client for the whole run: keep-alive connections, as an SDK keeps them.
func newClient(maxConns int) *http.Client {
	return &http.Client{Timeout: requestTimeout, Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        maxConns,
		MaxIdleConnsPerHost: maxConns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
}

type requester struct {
	cfg         Config
	client      *http.Client
	signer      *v4.Signer
	payloadHash string
}

func newRequester(cfg Config, maxConns int) *requester {
	sum := sha256.Sum256(cfg.Body)
	return &requester{cfg: cfg, client: newClient(maxConns), signer: v4.NewSigner(), payloadHash: hex.EncodeToString(sum[:])}
}

// do sends one request and reads its answer. It returns the status, the time the latency ends
// (the first event's end, or the answer's last byte), the bytes read and an error. When hold is
// set (streams mode) it is called after the first event and the rest of the answer is read only
// after it returns.
func (q *requester) do(ctx context.Context, hold func()) (status int, end time.Time, n int64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.cfg.URL, bytes.NewReader(q.cfg.Body))
	if err != nil {
		return 0, time.Time{}, 0, err
	}
	for k, v := range q.cfg.Header {
		req.Header[k] = v
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if s := q.cfg.Sign; s != nil {
		creds := aws.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey}
		req.Header.Set("X-Amz-Content-Sha256", q.payloadHash)
		if err := q.signer.SignHTTP(ctx, creds, req, q.payloadHash, s.Service, s.Region, time.Now()); err != nil {
			return 0, time.Time{}, 0, err
		}
	}
	resp, err := q.client.Do(req)
	if err != nil {
		return 0, time.Time{}, 0, err
	}
	defer resp.Body.Close()
	status = resp.StatusCode
	if status < 200 || status > 299 || q.cfg.FirstEvent == FirstEventNone {
		n, err = io.Copy(io.Discard, resp.Body)
		return status, time.Now(), n, err
	}
	br := bufio.NewReaderSize(resp.Body, 16<<10)
	n, err = readFirstEvent(br, q.cfg.FirstEvent)
	end = time.Now()
	if err != nil {
		return status, end, n, fmt.Errorf("first event: %w", err)
	}
	if hold != nil {
		hold()
	}
	rest, err := io.Copy(io.Discard, br)
	if hold != nil && ctx.Err() != nil {
		err = nil // streams mode ends by cancelling the held streams
	}
	return status, end, n + rest, err
}

// readFirstEvent reads the first event of a stream in the given framing and returns its size.
func readFirstEvent(br *bufio.Reader, framing string) (int64, error) {
	switch framing {
	case FirstEventSSE:
		var n int64
		for {
			line, err := br.ReadSlice('\n')
			n += int64(len(line))
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil {
				return n, err
			}
			if len(bytes.TrimRight(line, "\r\n")) == 0 && n > int64(len(line)) {
				return n, nil // the blank line after an event
			}
		}
	case FirstEventEventStream:
		var prelude [4]byte
		if _, err := io.ReadFull(br, prelude[:]); err != nil {
			return 0, err
		}
		total := int64(binary.BigEndian.Uint32(prelude[:]))
		if total < 16 || total > 16<<20 {
			return 4, fmt.Errorf("event-stream message length %d out of range", total)
		}
		m, err := io.CopyN(io.Discard, br, total-4)
		return 4 + m, err
	}
	return 0, fmt.Errorf("unknown first-event framing %q", framing)
}

// Run runs one configured load and returns what it measured.
func Run(ctx context.Context, cfg Config) (Result, error) {
	switch cfg.Mode {
	case ModeRate:
		if cfg.Rate <= 0 || cfg.Duration <= 0 {
			return Result{}, errors.New("rate mode needs a rate and a duration")
		}
		return runRate(ctx, cfg), nil
	case ModeMax:
		if cfg.Concurrency <= 0 || cfg.Duration <= 0 {
			return Result{}, errors.New("max mode needs a concurrency and a duration")
		}
		return runMax(ctx, cfg), nil
	case ModeStreams:
		if cfg.Streams <= 0 || cfg.FirstEvent == FirstEventNone {
			return Result{}, errors.New("streams mode needs a stream count and a first-event framing")
		}
		return runStreams(ctx, cfg), nil
	}
	return Result{}, fmt.Errorf("unknown mode %q", cfg.Mode)
}

// maxOutstanding bounds the requests in flight in rate mode, so that a proxy that stops answering
// cannot make the generator exhaust the machine; requests past it are counted as errors.
const maxOutstanding = 10000

func runRate(ctx context.Context, cfg Config) Result {
	total := int64(cfg.Rate * (cfg.Warmup + cfg.Duration).Seconds())
	warm := int64(cfg.Rate * cfg.Warmup.Seconds())
	q := newRequester(cfg, 1024)
	rc := newRecorder(int(total - warm))
	var wg sync.WaitGroup
	var outstanding atomic.Int64
	began := time.Now()
	start := began.Add(5 * time.Millisecond)
	var sent int64
	for i := int64(0); i < total && ctx.Err() == nil; i++ {
		due := ScheduledAt(start, cfg.Rate, i)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		measured := i >= warm
		sent++
		if outstanding.Load() >= maxOutstanding {
			rc.record(measured, 0, errors.New("too many requests outstanding"), 0, 0)
			continue
		}
		outstanding.Add(1)
		wg.Go(func() {
			defer outstanding.Add(-1)
			status, end, n, err := q.do(ctx, nil)
			// From the scheduled time, not the send time: coordinated omission corrected.
			rc.record(measured, status, err, end.Sub(due), n)
		})
	}
	wg.Wait()
	return rc.result(ModeRate, sent, cfg.Duration, time.Since(began))
}

func runMax(ctx context.Context, cfg Config) Result {
	q := newRequester(cfg, cfg.Concurrency)
	rc := newRecorder(1 << 16)
	began := time.Now()
	measureFrom := began.Add(cfg.Warmup)
	stop := measureFrom.Add(cfg.Duration)
	var sent atomic.Int64
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(stop) {
					return
				}
				sent.Add(1)
				status, end, n, err := q.do(ctx, nil)
				// Only requests both sent and finished inside the measured part count, so the
				// rate is completions per second of that part.
				rc.record(!t0.Before(measureFrom) && end.Before(stop), status, err, end.Sub(t0), n)
			}
		})
	}
	wg.Wait()
	return rc.result(ModeMax, sent.Load(), cfg.Duration, time.Since(began))
}

func runStreams(ctx context.Context, cfg Config) Result {
	conc := cfg.Concurrency
	if conc <= 0 {
		conc = 50
	}
	q := newRequester(cfg, cfg.Streams)
	rc := newRecorder(cfg.Streams)
	holdCtx, release := context.WithCancel(ctx)
	defer release()
	q.client.Timeout = 0 // held streams end when the hold does
	began := time.Now()
	var open atomic.Int64
	var ready, done sync.WaitGroup
	sem := make(chan struct{}, conc)
	for range cfg.Streams {
		ready.Add(1)
		done.Add(1)
		sem <- struct{}{}
		t0 := time.Now()
		go func() {
			defer done.Done()
			first := sync.OnceFunc(func() { <-sem; ready.Done() })
			defer first() // a stream that failed before its first event frees its slot too
			status, end, n, err := q.do(holdCtx, func() {
				open.Add(1)
				first()
				<-holdCtx.Done()
			})
			rc.record(true, status, err, end.Sub(t0), n)
		}()
	}
	ready.Wait()
	if cfg.Ready != nil {
		r := Result{Mode: ModeStreams, Sent: int64(cfg.Streams), Open: open.Load(), WallSeconds: time.Since(began).Seconds()}
		cfg.Ready(r)
	}
	select {
	case <-time.After(cfg.Duration):
	case <-ctx.Done():
	}
	openAtEnd := open.Load()
	release()
	done.Wait()
	r := rc.result(ModeStreams, int64(cfg.Streams), 0, time.Since(began))
	r.Open = openAtEnd
	return r
}

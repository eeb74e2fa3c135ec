package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// PromptTexts are what the applications send (a Converse prompt, a chat prompt, a search query),
// and CompletionText the start of every simulated answer: none may appear in a log, metric, Event
// or status.
var (
	PromptTexts    = []string{"Where is my order? It was due yesterday.", "Summarise this ticket.", "refund policy"}
	CompletionText = "tok0 tok1"
)

// Load is one workload's traffic: what its pods would send, at a rate per replica, through its
// guard. It records the outcome of every request it sends, so that none can go missing unnoticed.
type Load struct {
	workload Workload
	bedrock  *bedrockruntime.Client
	http     *http.Client
	guardURL string

	perReplica atomic.Uint64 // requests per second per replica, in milli-requests
	replicas   atomic.Int32

	mu       sync.Mutex
	outcomes map[string]int64 // "ok", "refused:<reason>", "error:<status>", "lost"
	targets  map[string]int64 // successful model answers by X-Breakwater-Target
	tokens   int64            // input plus output tokens the answers reported
	sent     int64
	lostErrs []string

	inFlight sync.WaitGroup
	stop     chan struct{}
	stopped  chan struct{}
}

// Counts is a snapshot of a Load's records.
type Counts struct {
	Sent     int64
	Outcomes map[string]int64
	Targets  map[string]int64
	Tokens   int64
}

// Answered is the number of requests with a recorded outcome.
func (c Counts) Answered() int64 {
	var n int64
	for _, v := range c.Outcomes {
		n += v
	}
	return n
}

// Sub is c minus an earlier snapshot.
func (c Counts) Sub(old Counts) Counts {
	d := Counts{Sent: c.Sent - old.Sent, Tokens: c.Tokens - old.Tokens, Outcomes: map[string]int64{}, Targets: map[string]int64{}}
	for k, v := range c.Outcomes {
		if x := v - old.Outcomes[k]; x != 0 {
			d.Outcomes[k] = x
		}
	}
	for k, v := range c.Targets {
		if x := v - old.Targets[k]; x != 0 {
			d.Targets[k] = x
		}
	}
	return d
}

func (c Counts) String() string {
	keys := func(m map[string]int64) string {
		var ks []string
		for k, v := range m {
			ks = append(ks, fmt.Sprintf("%s=%d", k, v))
		}
		sort.Strings(ks)
		return strings.Join(ks, " ")
	}
	return fmt.Sprintf("sent=%d %s | served by %s", c.Sent, keys(c.Outcomes), keys(c.Targets))
}

func newLoad(w Workload, guardURL string) *Load {
	l := &Load{workload: w, guardURL: guardURL, outcomes: map[string]int64{}, targets: map[string]int64{},
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		stop: make(chan struct{}), stopped: make(chan struct{})}
	l.replicas.Store(w.Replicas)
	// The application's own SDK client, pointed at the guard as docs/guard.md tells users to. The
	// guard signs upstream calls with the pod's identity; what the app signs with is not checked.
	// The app does not retry: the guard does, and the outcome of each call is what is recorded.
	l.bedrock = bedrockruntime.New(bedrockruntime.Options{
		Region:       PrimaryTarget,
		BaseEndpoint: aws.String(guardURL + "/m/" + EndpointName),
		Credentials:  credentials.NewStaticCredentialsProvider("app", "app-secret", ""),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   l.http,
	})
	return l
}

// SetRate sets the requests per second each replica sends.
func (l *Load) SetRate(perReplica float64) { l.perReplica.Store(uint64(perReplica * 1000)) }

// rate is the workload's current requests per second.
func (l *Load) rate() float64 {
	return float64(l.perReplica.Load()) / 1000 * float64(l.replicas.Load())
}

// Snapshot copies the records.
func (l *Load) Snapshot() Counts {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := Counts{Sent: l.sent, Tokens: l.tokens, Outcomes: map[string]int64{}, Targets: map[string]int64{}}
	for k, v := range l.outcomes {
		c.Outcomes[k] = v
	}
	for k, v := range l.targets {
		c.Targets[k] = v
	}
	return c
}

// LostErrors are the transport errors of lost requests (at most 20).
func (l *Load) LostErrors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lostErrs...)
}

// run sends requests on a schedule at the current rate until Stop.
func (l *Load) run() {
	defer close(l.stopped)
	next := time.Now()
	var n int
	for {
		r := l.rate()
		if r <= 0 {
			select {
			case <-l.stop:
				return
			case <-time.After(100 * time.Millisecond):
				next = time.Now()
				continue
			}
		}
		next = next.Add(time.Duration(float64(time.Second) / r))
		select {
		case <-l.stop:
			return
		case <-time.After(time.Until(next)):
		}
		n++
		l.mu.Lock()
		l.sent++
		l.mu.Unlock()
		l.inFlight.Add(1)
		go func(n int) {
			defer l.inFlight.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			switch {
			case len(l.workload.Backends) > 0 && n%2 == 0:
				l.record(l.search(ctx))
			case len(l.workload.Endpoints) > 1 && n%4 == 0:
				l.record(l.chat(ctx))
			default:
				l.record(l.converse(ctx))
			}
		}(n)
	}
}

// Stop stops sending and waits for every request in flight to finish and be recorded.
func (l *Load) Stop() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.stopped
	l.inFlight.Wait()
}

type result struct {
	outcome string
	target  string
	tokens  int64
	lost    error
}

func (l *Load) record(r result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.outcomes[r.outcome]++
	if r.target != "" {
		l.targets[r.target]++
	}
	l.tokens += r.tokens
	if r.lost != nil && len(l.lostErrs) < 20 {
		l.lostErrs = append(l.lostErrs, r.lost.Error())
	}
}

// classify names the outcome of a response that arrived: ok, or the guard's reason.
func classify(status int, h http.Header) result {
	if status < 300 {
		return result{outcome: "ok", target: h.Get("X-Breakwater-Target")}
	}
	if reason := h.Get("X-Breakwater-Reason"); reason != "" {
		return result{outcome: "refused:" + reason}
	}
	return result{outcome: fmt.Sprintf("error:%d", status)}
}

func (l *Load) converse(ctx context.Context) result {
	maxTokens := int32(200)
	out, err := l.bedrock.Converse(ctx, &bedrockruntime.ConverseInput{
		ModelId: aws.String(ModelID),
		Messages: []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{
			&types.ContentBlockMemberText{Value: PromptTexts[0]}}}},
		InferenceConfig: &types.InferenceConfiguration{MaxTokens: &maxTokens},
	})
	if err != nil {
		var re *awshttp.ResponseError
		if errors.As(err, &re) && re.Response != nil {
			return classify(re.Response.StatusCode, re.Response.Header)
		}
		return result{outcome: "lost", lost: err}
	}
	r := result{outcome: "ok"}
	if raw, ok := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response); ok {
		r = classify(raw.StatusCode, raw.Header)
	}
	if u := out.Usage; u != nil {
		r.tokens = int64(aws.ToInt32(u.InputTokens)) + int64(aws.ToInt32(u.OutputTokens))
	}
	return r
}

func (l *Load) chat(ctx context.Context) result {
	body := `{"model":"llama-3.1-8b","max_tokens":64,"messages":[{"role":"user","content":"` + PromptTexts[1] + `"}]}`
	var parsed struct {
		Usage struct {
			PromptTokens     int64 `json:"prompt_tokens"`
			CompletionTokens int64 `json:"completion_tokens"`
		} `json:"usage"`
	}
	r, data := l.post(ctx, "/m/llama/v1/chat/completions", body)
	if r.outcome == "ok" && json.Unmarshal(data, &parsed) == nil {
		r.tokens = parsed.Usage.PromptTokens + parsed.Usage.CompletionTokens
	}
	return r
}

func (l *Load) search(ctx context.Context) result {
	r, _ := l.post(ctx, "/r/docs/products/_search", `{"query":{"match":{"text":"`+PromptTexts[2]+`"}},"size":10}`)
	r.target = "" // retrieval answers are not model answers
	return r
}

func (l *Load) post(ctx context.Context, path, body string) (result, []byte) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.guardURL+path, bytes.NewBufferString(body))
	if err != nil {
		return result{outcome: "lost", lost: err}, nil
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.http.Do(req)
	if err != nil {
		return result{outcome: "lost", lost: err}, nil
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{outcome: "lost", lost: err}, nil
	}
	return classify(resp.StatusCode, resp.Header), data
}

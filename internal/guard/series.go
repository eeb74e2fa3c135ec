package guard

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/breakwater-dev/breakwater/internal/metrics"
)

// The per-request metric updates go to series that a target (or an endpoint without a target, or
// a retrieval backend) resolves once each, instead of looking each one up by its label values on
// every request (a hash of the values and a map lookup under a lock, several times per request).
// A series is resolved at its first use, not at compile, so the exposition is exactly what the
// lookups gave: a series appears once it has counted something. Label values outside the fixed
// lists below (none today) fall back to a lookup.

// outcomes are the outcome label values the caches hold a series for, by index.
var outcomes = [...]string{
	metrics.OutcomeSuccess, metrics.OutcomeClientError, metrics.OutcomeThrottled, metrics.OutcomeUpstreamError,
	metrics.OutcomeTimeout, metrics.OutcomeRejected, metrics.OutcomeCanceled, metrics.OutcomeStreamInterrupted,
	metrics.OutcomeDegraded,
}

func outcomeIndex(o string) int {
	switch o {
	case metrics.OutcomeSuccess:
		return 0
	case metrics.OutcomeClientError:
		return 1
	case metrics.OutcomeThrottled:
		return 2
	case metrics.OutcomeUpstreamError:
		return 3
	case metrics.OutcomeTimeout:
		return 4
	case metrics.OutcomeRejected:
		return 5
	case metrics.OutcomeCanceled:
		return 6
	case metrics.OutcomeStreamInterrupted:
		return 7
	case metrics.OutcomeDegraded:
		return 8
	}
	return -1
}

// opIndex numbers the gen_ai_operation_name values (operation.name).
func opIndex(name string) int {
	switch name {
	case "chat":
		return 0
	case "embeddings":
		return 1
	case "generate_content":
		return 2
	}
	return -1
}

// Token types, the index of series.tokens and opSeries.usage.
const (
	tokenInput = iota
	tokenOutput
)

var tokenTypes = [...]string{tokenInput: "input", tokenOutput: "output"}

// lazyCounter is one counter series, resolved by its first use. Two first uses at once both
// resolve; the vector gives both the same series.
type lazyCounter struct {
	p atomic.Pointer[prometheus.Counter]
}

// get returns the series, calling resolve the first time. resolve does not escape, so callers'
// closures stay on the stack.
func (l *lazyCounter) get(resolve func() prometheus.Counter) prometheus.Counter {
	if p := l.p.Load(); p != nil {
		return *p
	}
	c := resolve()
	l.p.Store(&c)
	return c
}

// lazyObserver is lazyCounter for a histogram series.
type lazyObserver struct {
	p atomic.Pointer[prometheus.Observer]
}

func (l *lazyObserver) get(resolve func() prometheus.Observer) prometheus.Observer {
	if p := l.p.Load(); p != nil {
		return *p
	}
	o := resolve()
	l.p.Store(&o)
	return o
}

// series are the per-request series of one endpoint and target (target "" for requests that
// reached no target; endpoint and target both the backend's name for retrieval).
type series struct {
	m                                 *metrics.Metrics
	endpoint, target, provider, model string

	requests [len(outcomes)]lazyCounter // RequestsTotal by outcome
	attempts [len(outcomes)]lazyCounter // AttemptsTotal by outcome
	retries  lazyCounter                // RetriesTotal (retries that went to this target)
	tokens   [len(tokenTypes)]lazyCounter
	cost     lazyCounter
	ops      [3]opSeries // by opIndex
}

// opSeries are the gen_ai histograms of one operation name.
type opSeries struct {
	duration [len(outcomes)]lazyObserver // OperationDuration by outcome (error_type "" for success)
	ttft     lazyObserver
	usage    [len(tokenTypes)]lazyObserver
}

func newSeries(m *metrics.Metrics, endpoint, target, provider, model string) *series {
	return &series{m: m, endpoint: endpoint, target: target, provider: provider, model: model}
}

func (s *series) requestsTotal(outcome string) prometheus.Counter {
	i := outcomeIndex(outcome)
	if i < 0 {
		return s.m.RequestsTotal.WithLabelValues(s.endpoint, s.target, outcome)
	}
	return s.requests[i].get(func() prometheus.Counter {
		return s.m.RequestsTotal.WithLabelValues(s.endpoint, s.target, outcome)
	})
}

func (s *series) attemptsTotal(outcome string) prometheus.Counter {
	i := outcomeIndex(outcome)
	if i < 0 {
		return s.m.AttemptsTotal.WithLabelValues(s.endpoint, s.target, outcome)
	}
	return s.attempts[i].get(func() prometheus.Counter {
		return s.m.AttemptsTotal.WithLabelValues(s.endpoint, s.target, outcome)
	})
}

func (s *series) retriesTotal() prometheus.Counter {
	return s.retries.get(func() prometheus.Counter {
		return s.m.RetriesTotal.WithLabelValues(s.endpoint, s.target)
	})
}

func (s *series) tokensTotal(typ int) prometheus.Counter {
	return s.tokens[typ].get(func() prometheus.Counter {
		return s.m.TokensTotal.WithLabelValues(s.endpoint, s.target, tokenTypes[typ])
	})
}

func (s *series) costTotal() prometheus.Counter {
	return s.cost.get(func() prometheus.Counter {
		return s.m.CostTotal.WithLabelValues(s.endpoint, s.target)
	})
}

// operationDuration is OperationDuration with error_type "" for success, else the outcome.
func (s *series) operationDuration(op, outcome string) prometheus.Observer {
	errType := ""
	if outcome != metrics.OutcomeSuccess {
		errType = outcome
	}
	oi, i := opIndex(op), outcomeIndex(outcome)
	if oi < 0 || i < 0 {
		return s.m.OperationDuration.WithLabelValues(op, s.provider, s.model, s.endpoint, s.target, errType)
	}
	return s.ops[oi].duration[i].get(func() prometheus.Observer {
		return s.m.OperationDuration.WithLabelValues(op, s.provider, s.model, s.endpoint, s.target, errType)
	})
}

func (s *series) timeToFirstToken(op string) prometheus.Observer {
	oi := opIndex(op)
	if oi < 0 {
		return s.m.TimeToFirstToken.WithLabelValues(op, s.provider, s.model, s.endpoint, s.target)
	}
	return s.ops[oi].ttft.get(func() prometheus.Observer {
		return s.m.TimeToFirstToken.WithLabelValues(op, s.provider, s.model, s.endpoint, s.target)
	})
}

func (s *series) tokenUsage(op string, typ int) prometheus.Observer {
	oi := opIndex(op)
	if oi < 0 {
		return s.m.TokenUsage.WithLabelValues(op, s.provider, s.model, s.endpoint, s.target, tokenTypes[typ])
	}
	return s.ops[oi].usage[typ].get(func() prometheus.Observer {
		return s.m.TokenUsage.WithLabelValues(op, s.provider, s.model, s.endpoint, s.target, tokenTypes[typ])
	})
}

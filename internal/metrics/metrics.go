// Package metrics defines every Prometheus metric the guard exposes, in one place, so that names,
// Help text and label values can be reviewed together and kept in step with docs/guard.md.
//
// Where the OpenTelemetry GenAI semantic conventions define a metric (token usage, operation
// duration, time to first token) its Prometheus form is used, with the conventions' bucket
// boundaries. All labels have bounded values taken from the guard config (endpoint, target,
// backend, model) or from fixed lists (outcome, reason, token type); never a prompt, user or request.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metric name prefixes: every metric of the guard starts with one of them.
const (
	// GuardPrefix starts the guard's own metrics.
	GuardPrefix = "breakwater_guard_"
	// GenAIPrefix starts the metrics of the OpenTelemetry GenAI semantic conventions.
	GenAIPrefix = "gen_ai_"
)

// Metric names, for the manager's PromQL (internal/promsource), the alerts, the dashboard and
// their tests: each name is written here once.
const (
	NameGenAIClientTokenUsage                   = "gen_ai_client_token_usage"
	NameGenAIClientOperationDurationSeconds     = "gen_ai_client_operation_duration_seconds"
	NameGenAIServerTimeToFirstTokenSeconds      = "gen_ai_server_time_to_first_token_seconds"
	NameRequestsTotal                           = "breakwater_guard_requests_total"
	NameRetriesTotal                            = "breakwater_guard_retries_total"
	NameUpstreamAttemptsTotal                   = "breakwater_guard_upstream_attempts_total"
	NameFallbacksTotal                          = "breakwater_guard_fallbacks_total"
	NameRejectionsTotal                         = "breakwater_guard_rejections_total"
	NameCircuitState                            = "breakwater_guard_circuit_state"
	NameTokensTotal                             = "breakwater_guard_tokens_total"
	NameCostTotal                               = "breakwater_guard_cost_total"
	NameRetrievalDegradedTotal                  = "breakwater_guard_retrieval_degraded_total"
	NameRetrievalDocumentsCappedTotal           = "breakwater_guard_retrieval_documents_capped_total"
	NameConfigReloadsTotal                      = "breakwater_guard_config_reloads_total"
	NameConfigLastReloadSuccessTimestampSeconds = "breakwater_guard_config_last_reload_success_timestamp_seconds"
	NameQuotaAvailableTokens                    = "breakwater_guard_quota_available_tokens"
	NameInFlightRequests                        = "breakwater_guard_in_flight_requests"
	NameAdmissionDecisionsTotal                 = "breakwater_guard_admission_decisions_total"
	NameAdmissionStoreUp                        = "breakwater_guard_admission_store_up"
	NameAdmissionStoreDurationSeconds           = "breakwater_guard_admission_store_duration_seconds"
	NameAdmissionLearnedShareRatio              = "breakwater_guard_admission_learned_share_ratio"
	NameAdmissionSettlesDroppedTotal            = "breakwater_guard_admission_settles_dropped_total"
)

// Label values of AdmissionDecisionsTotal.
const (
	LabelQuota            = "quota"
	AdmissionModeShared   = "shared" // the store decided
	AdmissionModeLocal    = "local"  // the guard decided on its local share
	AdmissionAdmitted     = "admitted"
	AdmissionRefusedShed  = "shed"
	AdmissionRefusedLimit = "exhausted"
)

// Label names of the guard's metrics that the manager's queries read.
const (
	LabelEndpoint = "endpoint"
	LabelTarget   = "target"
	LabelOutcome  = "outcome"
	LabelType     = "type"
)

// Outcome label values of RequestsTotal.
const (
	OutcomeSuccess           = "success"            // a 2xx answer passed to the app
	OutcomeClientError       = "client_error"       // the upstream refused the request itself (4xx other than 408/429)
	OutcomeThrottled         = "throttled"          // the final upstream answer was a throttle (429)
	OutcomeUpstreamError     = "upstream_error"     // the final upstream answer was a 5xx or the connection failed
	OutcomeTimeout           = "timeout"            // a request, first-token or stream-idle timeout ended it
	OutcomeRejected          = "rejected"           // the guard refused it (see RejectionsTotal for the reason)
	OutcomeCanceled          = "canceled"           // the app went away
	OutcomeStreamInterrupted = "stream_interrupted" // a stream broke after its first byte reached the app
	OutcomeDegraded          = "degraded"           // retrieval answered empty or from cache after a failure
)

// Circuit state values of CircuitState.
const (
	CircuitClosed   = 0
	CircuitOpen     = 1
	CircuitHalfOpen = 2
)

// Metrics holds every collector. Create it with Register.
type Metrics struct {
	TokenUsage        *prometheus.HistogramVec
	OperationDuration *prometheus.HistogramVec
	TimeToFirstToken  *prometheus.HistogramVec
	RequestsTotal     *prometheus.CounterVec
	RetriesTotal      *prometheus.CounterVec
	FallbacksTotal    *prometheus.CounterVec
	AttemptsTotal     *prometheus.CounterVec
	RejectionsTotal   *prometheus.CounterVec
	CircuitState      *prometheus.GaugeVec
	TokensTotal       *prometheus.CounterVec
	CostTotal         *prometheus.CounterVec
	RetrievalDegraded *prometheus.CounterVec
	DocumentsCapped   *prometheus.CounterVec
	ConfigReloads     *prometheus.CounterVec
	ConfigLastReload  prometheus.Gauge
	QuotaAvailable    prometheus.Gauge
	InFlight          prometheus.Gauge

	AdmissionDecisions      *prometheus.CounterVec
	AdmissionStoreUp        prometheus.Gauge
	AdmissionStoreDuration  *prometheus.HistogramVec
	AdmissionLearnedShare   *prometheus.GaugeVec
	AdmissionSettlesDropped prometheus.Counter
}

// Register creates the guard's metrics and registers them with reg. Use a registry of your own
// (prometheus.NewRegistry) so that several guards can run in one process, as tests do.
func Register(reg prometheus.Registerer) *Metrics {
	genAI := []string{"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "endpoint", "target"}
	m := &Metrics{
		TokenUsage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: NameGenAIClientTokenUsage,
			Help: "OpenTelemetry gen_ai.client.token.usage: tokens per request as reported by the provider. " +
				"gen_ai_operation_name: chat, embeddings or generate_content; gen_ai_provider_name: aws.bedrock, " +
				"aws.sagemaker or openai; gen_ai_request_model: the target's configured modelId or endpointName (empty when none); " +
				"gen_ai_token_type: input or output; endpoint and target: names from the guard config.",
			Buckets: []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864},
		}, append(append([]string{}, genAI...), "gen_ai_token_type")),
		OperationDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: NameGenAIClientOperationDurationSeconds,
			Help: "OpenTelemetry gen_ai.client.operation.duration: seconds from the app's request to the end of the answer, " +
				"retries included. Labels as gen_ai_client_token_usage, plus error_type: empty on success, else the outcome " +
				"(client_error, throttled, upstream_error, timeout, canceled, stream_interrupted).",
			Buckets: []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92},
		}, append(append([]string{}, genAI...), "error_type")),
		TimeToFirstToken: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: NameGenAIServerTimeToFirstTokenSeconds,
			Help: "OpenTelemetry gen_ai.server.time_to_first_token, measured by the guard: seconds from the app's request " +
				"to the first byte of a streamed answer reaching the app. Labels as gen_ai_client_token_usage without the token type.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10},
		}, genAI),
		RequestsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameRequestsTotal,
			Help: "Requests finished by the guard. endpoint: model endpoint or retrieval backend name; target: the target " +
				"that gave the final answer (empty when none was called); outcome: success, client_error, throttled, " +
				"upstream_error, timeout, rejected, canceled, stream_interrupted or degraded.",
		}, []string{"endpoint", "target", "outcome"}),
		RetriesTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameRetriesTotal,
			Help: "Upstream attempts after the first one of a request. endpoint; target: where the retry went.",
		}, []string{"endpoint", "target"}),
		AttemptsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameUpstreamAttemptsTotal,
			Help: "Upstream attempts by the target tried and how that attempt ended (success, client_error, throttled, " +
				"upstream_error, timeout, stream_interrupted, canceled). Unlike breakwater_guard_requests_total, which " +
				"records only the final answer, it shows a target's throttles and errors that a retry or fallback hid " +
				"from the app: the manager's failover triggers read it.",
		}, []string{"endpoint", "target", "outcome"}),
		FallbacksTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameFallbacksTotal,
			Help: "Requests moved from one target to another (after a failure or past an open breaker). endpoint; " +
				"from and to: target names.",
		}, []string{"endpoint", "from", "to"}),
		RejectionsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameRejectionsTotal,
			Help: "Errors produced by the guard itself, by reason (the X-Breakwater-Reason header): request_too_large, " +
				"prompt_too_large, invalid_request, unknown_route, protocol_mismatch, quota_exhausted, quota_shed, circuit_open, " +
				"no_healthy_target, upstream_timeout, first_token_timeout, retry_budget_exhausted, upstream_unavailable, " +
				"credentials_unavailable, response_too_large, not_ready, and for retrieval backends failing with onFailure fail " +
				"upstream_error or upstream_throttled. endpoint: model endpoint or retrieval backend name " +
				"(empty for unknown routes and before a config is loaded).",
		}, []string{"endpoint", "reason"}),
		CircuitState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: NameCircuitState,
			Help: "Circuit breaker state per target: 0 closed, 1 open, 2 half-open. endpoint; target (a retrieval " +
				"backend uses its name for both).",
		}, []string{"endpoint", "target"}),
		TokensTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameTokensTotal,
			Help: "Tokens reported by providers, for rates in PromQL. endpoint; target; type: input or output.",
		}, []string{"endpoint", "target", "type"}),
		CostTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameCostTotal,
			Help: "Cost in USD of the reported tokens at the target's configured prices. endpoint; target.",
		}, []string{"endpoint", "target"}),
		RetrievalDegraded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameRetrievalDegradedTotal,
			Help: "Retrieval answers given in place of a failed backend's. backend; mode: empty (no context) or cache " +
				"(a recent answer to the same request).",
		}, []string{"backend", "mode"}),
		DocumentsCapped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameRetrievalDocumentsCappedTotal,
			Help: "Retrieval calls whose document count was lowered to the backend's maxDocuments. backend.",
		}, []string{"backend"}),
		ConfigReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameConfigReloadsTotal,
			Help: "Config loads. result: success, or failure (the config was refused and the last good one kept).",
		}, []string{"result"}),
		ConfigLastReload: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: NameConfigLastReloadSuccessTimestampSeconds,
			Help: "Unix time of the last config accepted.",
		}),
		QuotaAvailable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: NameQuotaAvailableTokens,
			Help: "Tokens left in the local per-minute allowance (negative while in debt; 0 when there is no allowance).",
		}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: NameInFlightRequests,
			Help: "Requests being served by the guard now.",
		}),
	}
	m.AdmissionDecisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: NameAdmissionDecisionsTotal,
		Help: "Fleet-wide admission decisions. quota: namespace/name of the TokenQuota (for a refusal, the one that " +
			"refused; an admission counts once per quota); mode: shared (the store decided) or local (the guard's share " +
			"of the limit, for local enforcement or while the store is unavailable); result: admitted, shed (sheddable " +
			"traffic above the shed threshold) or exhausted.",
	}, []string{LabelQuota, "mode", "result"})
	m.AdmissionStoreUp = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: NameAdmissionStoreUp,
		Help: "1 while the admission store answers within its timeout, 0 while the guard enforces its local share " +
			"(also 0 when no store is configured).",
	})
	m.AdmissionStoreDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    NameAdmissionStoreDurationSeconds,
		Help:    "Seconds of each reservation's round trip to the admission store. result: ok or error (timeout included).",
		Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1},
	}, []string{"result"})
	m.AdmissionLearnedShare = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: NameAdmissionLearnedShareRatio,
		Help: "The learned share of a quota's configured limits, 0 to 1: below 1 after the provider throttled " +
			"requests the quota admitted, climbing back by 0.03 a minute. quota: namespace/name of the TokenQuota.",
	}, []string{LabelQuota})
	m.AdmissionSettlesDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: NameAdmissionSettlesDroppedTotal,
		Help: "Settles (or replays of locally admitted spend) the admission store never received; such a reservation " +
			"stays at its estimate until it leaves the 60 s window.",
	})
	reg.MustRegister(m.TokenUsage, m.OperationDuration, m.TimeToFirstToken, m.RequestsTotal, m.RetriesTotal,
		m.FallbacksTotal, m.AttemptsTotal, m.RejectionsTotal, m.CircuitState, m.TokensTotal, m.CostTotal, m.RetrievalDegraded,
		m.DocumentsCapped, m.ConfigReloads, m.ConfigLastReload, m.QuotaAvailable, m.InFlight,
		m.AdmissionDecisions, m.AdmissionStoreUp, m.AdmissionStoreDuration, m.AdmissionLearnedShare, m.AdmissionSettlesDropped)
	return m
}

package upstreamsim

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
)

// FaultsJSON is the wire form of Faults for the control API: durations are
// Go duration strings ("250ms") so a shell script can set them.
type FaultsJSON struct {
	Latency                string  `json:"latency,omitempty"`
	FirstTokenDelay        string  `json:"firstTokenDelay,omitempty"`
	TokenInterval          string  `json:"tokenInterval,omitempty"`
	ThrottleRate           float64 `json:"throttleRate,omitempty"`
	ErrorRate              float64 `json:"errorRate,omitempty"`
	ErrorStatus            int     `json:"errorStatus,omitempty"`
	RetryAfter             string  `json:"retryAfter,omitempty"`
	ResetRate              float64 `json:"resetRate,omitempty"`
	StallAfterEvents       int     `json:"stallAfterEvents,omitempty"`
	StreamErrorAfterEvents int     `json:"streamErrorAfterEvents,omitempty"`
	ResetAfterEvents       int     `json:"resetAfterEvents,omitempty"`
	OversizedBody          int     `json:"oversizedBody,omitempty"`
}

// ToJSON converts Faults to their wire form.
func (f Faults) ToJSON() FaultsJSON {
	d := func(v time.Duration) string {
		if v == 0 {
			return ""
		}
		return v.String()
	}
	return FaultsJSON{
		Latency: d(f.Latency), FirstTokenDelay: d(f.FirstTokenDelay), TokenInterval: d(f.TokenInterval),
		ThrottleRate: f.ThrottleRate, ErrorRate: f.ErrorRate, ErrorStatus: f.ErrorStatus,
		RetryAfter: d(f.RetryAfter), ResetRate: f.ResetRate, StallAfterEvents: f.StallAfterEvents,
		StreamErrorAfterEvents: f.StreamErrorAfterEvents, ResetAfterEvents: f.ResetAfterEvents,
		OversizedBody: f.OversizedBody,
	}
}

// Faults converts the wire form back, rejecting bad durations and rates.
func (j FaultsJSON) Faults() (Faults, error) {
	var firstErr error
	d := func(s string) time.Duration {
		if s == "" {
			return 0
		}
		v, err := time.ParseDuration(s)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return v
	}
	f := Faults{
		Latency: d(j.Latency), FirstTokenDelay: d(j.FirstTokenDelay), TokenInterval: d(j.TokenInterval),
		ThrottleRate: j.ThrottleRate, ErrorRate: j.ErrorRate, ErrorStatus: j.ErrorStatus,
		RetryAfter: d(j.RetryAfter), ResetRate: j.ResetRate, StallAfterEvents: j.StallAfterEvents,
		StreamErrorAfterEvents: j.StreamErrorAfterEvents, ResetAfterEvents: j.ResetAfterEvents,
		OversizedBody: j.OversizedBody,
	}
	if firstErr != nil {
		return Faults{}, firstErr
	}
	for _, r := range []float64{f.ThrottleRate, f.ErrorRate, f.ResetRate} {
		if r < 0 || r > 1 {
			return Faults{}, errRate
		}
	}
	return f, nil
}

var errRate = errors.New("rates must be between 0 and 1")

// ControlHandler serves a small API to steer a running sim from outside the
// process (the demo and benchmark scripts), mounted wherever the caller
// likes; paths are matched on their suffix:
//
//	GET  .../faults       current faults as FaultsJSON
//	PUT  .../faults       replace faults (FaultsJSON body; {} heals)
//	GET  .../stats        Stats as JSON (credential header values redacted)
//	POST .../stats/reset  ResetStats
func (s *Server) ControlHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimRight(r.URL.Path, "/")
		switch {
		case strings.HasSuffix(p, "/faults") && r.Method == http.MethodGet:
			writeJSON(w, http.StatusOK, s.Faults().ToJSON())
		case strings.HasSuffix(p, "/faults") && (r.Method == http.MethodPut || r.Method == http.MethodPost):
			var j FaultsJSON
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&j); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			f, err := j.Faults()
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			s.SetFaults(f)
			writeJSON(w, http.StatusOK, f.ToJSON())
		case strings.HasSuffix(p, "/stats/reset") && r.Method == http.MethodPost:
			s.ResetStats()
			w.WriteHeader(http.StatusNoContent)
		case strings.HasSuffix(p, "/stats") && r.Method == http.MethodGet:
			writeJSON(w, http.StatusOK, redacted(s.Stats()))
		default:
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown control path or method"})
		}
	})
}

// redacted hides credential values in LastHeaders: the stats may end up in a
// demo's output or a CI log, and presence is all a reader needs to see.
func redacted(st Stats) Stats {
	for _, k := range []string{"Authorization", "X-Amz-Security-Token", "Api-Key", "X-Api-Key"} {
		if len(st.LastHeaders.Values(k)) > 0 {
			st.LastHeaders.Set(k, "REDACTED")
		}
	}
	return st
}

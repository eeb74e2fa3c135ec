package awsfake

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// Datapoint is one value of a metric for one period, already aggregated
// with the statistic it is stored under.
type Datapoint struct {
	Time  time.Time
	Value float64
}

type pointKey struct{ region, modelID, metric, stat string }

// SetDatapoints stores the datapoints GetMetricData returns for the
// AWS/Bedrock metric (e.g. "InputTokenCount") of a ModelId in a region
// under a statistic (e.g. "Sum", "p99"). A metric with no datapoints set
// answers with an empty, Complete result, as CloudWatch does.
func (s *Server) SetDatapoints(region, modelID, metric, stat string, points ...Datapoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.points[pointKey{region, modelID, metric, stat}] = slices.Clone(points)
}

// SetMetricStatus forces the StatusCode of a series' results (e.g.
// "InternalError" or "Forbidden"), as CloudWatch reports a metric it could
// only partly read; empty restores the computed status.
func (s *Server) SetMetricStatus(region, modelID, metric, stat, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if status == "" {
		delete(s.statuses, pointKey{region, modelID, metric, stat})
		return
	}
	s.statuses[pointKey{region, modelID, metric, stat}] = status
}

// SetMetricPageSize caps the datapoints per GetMetricData reply, so tests
// can force paging with NextToken.
func (s *Server) SetMetricPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.metricPageSize = n
}

// bedrockNamespace is the only namespace the fake holds data for.
const bedrockNamespace = "AWS/Bedrock"

// maxQueries is CloudWatch's limit on MetricDataQueries per call.
const maxQueries = 500

var queryIDPattern = regexp.MustCompile(`^[a-z][a-zA-Z0-9_]*$`)

// metricQuery is one decoded MetricDataQuery with a MetricStat.
type metricQuery struct {
	id, namespace, metric, stat string
	period                      uint64
	dims                        map[string]string
}

// serveCloudWatch answers GetMetricData in RPC v2 CBOR. It decodes the
// request with smithy-go's CBOR decoder and encodes the reply with its
// encoder, field names and types as in the CloudWatch model.
func (s *Server) serveCloudWatch(w http.ResponseWriter, r *http.Request, op, region string, body []byte) {
	rt := route{op: op, service: signingCloudWatch, proto: protoCBOR}
	if op != OpGetMetricData {
		writeError(w, protoCBOR, apiError{status: http.StatusBadRequest, code: "UnknownOperationException", message: "the fake does not serve " + op})
		return
	}
	if r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" || r.Header.Get("Content-Type") != "application/cbor" {
		writeError(w, protoCBOR, badRequest(rt, "expected Smithy-Protocol rpc-v2-cbor and Content-Type application/cbor"))
		return
	}
	v, err := cbor.Decode(body)
	if err != nil {
		writeError(w, protoCBOR, apiError{status: http.StatusBadRequest, code: "SerializationException", message: err.Error()})
		return
	}
	in, ok := v.(cbor.Map)
	if !ok {
		writeError(w, protoCBOR, apiError{status: http.StatusBadRequest, code: "SerializationException", message: "request body is not a CBOR map"})
		return
	}
	start, err1 := cbor.AsTime(in["StartTime"])
	end, err2 := cbor.AsTime(in["EndTime"])
	if err1 != nil || err2 != nil || !start.Before(end) {
		writeError(w, protoCBOR, badRequest(rt, "StartTime and EndTime must be epoch timestamps with StartTime before EndTime"))
		return
	}
	queries, msg := decodeQueries(in["MetricDataQueries"])
	if msg != "" {
		writeError(w, protoCBOR, badRequest(rt, msg))
		return
	}
	descending := true
	if sb, ok := in["ScanBy"].(cbor.String); ok && sb == "TimestampAscending" {
		descending = false
	}

	s.mu.Lock()
	pageSize := s.metricPageSize
	perQuery := make([][]Datapoint, len(queries))
	forced := make([]string, len(queries))
	for i, q := range queries {
		if q.namespace != bedrockNamespace || len(q.dims) != 1 || q.dims["ModelId"] == "" {
			continue // CloudWatch answers an unknown metric with no data, not an error.
		}
		forced[i] = s.statuses[pointKey{region, q.dims["ModelId"], q.metric, q.stat}]
		for _, p := range s.points[pointKey{region, q.dims["ModelId"], q.metric, q.stat}] {
			if !p.Time.Before(start) && p.Time.Before(end) {
				perQuery[i] = append(perQuery[i], p)
			}
		}
	}
	s.mu.Unlock()
	if md, ok := in["MaxDatapoints"].(cbor.Uint); ok && md > 0 && int(md) < pageSize {
		pageSize = int(md)
	}

	offset := 0
	if tok, ok := in["NextToken"].(cbor.String); ok {
		n, err := strconv.Atoi(strings.TrimPrefix(string(tok), "page-"))
		if err != nil || !strings.HasPrefix(string(tok), "page-") || n < 0 {
			writeError(w, protoCBOR, apiError{status: http.StatusBadRequest, ns: "com.amazonaws.cloudwatch", code: "InvalidNextToken", queryCode: "InvalidNextToken", message: "The service returned an invalid NextToken."})
			return
		}
		offset = n
	}

	// Datapoints of all queries form one sequence, cut into pages; a query
	// whose datapoints continue on a later page is PartialData on this one.
	results := cbor.List{}
	base, total := 0, 0
	for i, q := range queries {
		pts := perQuery[i]
		slices.SortFunc(pts, func(a, b Datapoint) int {
			if descending {
				return b.Time.Compare(a.Time)
			}
			return a.Time.Compare(b.Time)
		})
		lo, hi := max(base, offset), min(base+len(pts), offset+pageSize)
		include := lo < hi || (len(pts) == 0 && offset == 0)
		if include {
			status := "Complete"
			if len(pts) > 0 && base+len(pts) > offset+pageSize {
				status = "PartialData"
			}
			if forced[i] != "" {
				status = forced[i]
			}
			ts, vals := cbor.List{}, cbor.List{}
			for _, p := range pts[max(lo-base, 0):max(hi-base, 0)] {
				ts = append(ts, &cbor.Tag{ID: 1, Value: cbor.Float64(float64(p.Time.UnixMilli()) / 1e3)})
				vals = append(vals, cbor.Float64(p.Value))
			}
			results = append(results, cbor.Map{
				"Id":         cbor.String(q.id),
				"Label":      cbor.String(q.metric),
				"StatusCode": cbor.String(status),
				"Timestamps": ts,
				"Values":     vals,
				"Messages":   cbor.List{},
			})
		}
		base += len(pts)
		total += len(pts)
	}
	out := cbor.Map{"MetricDataResults": results, "Messages": cbor.List{}}
	if offset+pageSize < total {
		out["NextToken"] = cbor.String(fmt.Sprintf("page-%d", offset+pageSize))
	}
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("X-Amzn-Requestid", "fake-request-id")
	_, _ = w.Write(cbor.Encode(out))
}

// decodeQueries reads MetricDataQueries and checks what CloudWatch checks:
// ids, count, a MetricStat (the fake has no metric math), a period that
// is a multiple of 60 seconds and a known statistic. It returns a
// validation message, empty when the queries are acceptable.
func decodeQueries(v cbor.Value) ([]metricQuery, string) {
	list, ok := v.(cbor.List)
	if !ok || len(list) == 0 {
		return nil, "MetricDataQueries is required"
	}
	if len(list) > maxQueries {
		return nil, fmt.Sprintf("at most %d MetricDataQueries are allowed, got %d", maxQueries, len(list))
	}
	seen := map[string]bool{}
	var out []metricQuery
	for _, item := range list {
		m, ok := item.(cbor.Map)
		if !ok {
			return nil, "MetricDataQuery is not a structure"
		}
		id, _ := m["Id"].(cbor.String)
		if !queryIDPattern.MatchString(string(id)) {
			return nil, fmt.Sprintf("invalid query Id %q: must start with a lowercase letter and contain only letters, digits and underscores", id)
		}
		if seen[string(id)] {
			return nil, fmt.Sprintf("duplicate query Id %q", id)
		}
		seen[string(id)] = true
		ms, ok := m["MetricStat"].(cbor.Map)
		if !ok {
			return nil, fmt.Sprintf("query %q has no MetricStat", id)
		}
		metric, _ := ms["Metric"].(cbor.Map)
		period, _ := ms["Period"].(cbor.Uint)
		stat, _ := ms["Stat"].(cbor.String)
		if period == 0 || period%60 != 0 {
			return nil, fmt.Sprintf("query %q: Period must be a positive multiple of 60", id)
		}
		if !validStat(string(stat)) {
			return nil, fmt.Sprintf("query %q: invalid statistic %q", id, stat)
		}
		q := metricQuery{id: string(id), stat: string(stat), period: uint64(period), dims: map[string]string{}}
		if ns, ok := metric["Namespace"].(cbor.String); ok {
			q.namespace = string(ns)
		}
		if name, ok := metric["MetricName"].(cbor.String); ok {
			q.metric = string(name)
		}
		dims, _ := metric["Dimensions"].(cbor.List)
		for _, d := range dims {
			dm, _ := d.(cbor.Map)
			name, _ := dm["Name"].(cbor.String)
			value, _ := dm["Value"].(cbor.String)
			q.dims[string(name)] = string(value)
		}
		out = append(out, q)
	}
	return out, ""
}

var percentilePattern = regexp.MustCompile(`^p\d{1,2}(\.\d+)?$`)

// validStat accepts the plain statistics and percentiles; CloudWatch also
// has trimmed means and the like, which Breakwater does not ask for.
func validStat(s string) bool {
	switch s {
	case "Sum", "Average", "Maximum", "Minimum", "SampleCount":
		return true
	}
	return percentilePattern.MatchString(s)
}

package monitoring

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/breakwater-dev/breakwater/internal/metrics"
)

const dashboardFile = "config/grafana/breakwater-dashboard.json"

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal(readFile(t, dashboardFile), &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// query is one panel expression.
type query struct {
	panel, expr string
}

func (d dashboard) queries() []query {
	var qs []query
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			qs = append(qs, query{panel: p.Title, expr: tg.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if m, ok := v.Query.(map[string]any); ok && v.Type == "query" {
			qs = append(qs, query{panel: "variable " + v.Name, expr: m["query"].(string)})
		}
	}
	return qs
}

// TestDashboardJSON: the dashboard parses, every panel reads the ${datasource} variable, ids are
// unique and panels fit the 24-column grid; every metric name exists.
func TestDashboardJSON(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q: both are needed for provisioning", d.UID, d.Title)
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	for _, v := range []string{"datasource", "namespace", "workload", "endpoint"} {
		if !vars[v] {
			t.Errorf("no $%s variable", v)
		}
	}
	ids := map[int]bool{}
	cells := map[[2]int]string{}
	for _, p := range d.Panels {
		for x := p.GridPos.X; x < p.GridPos.X+p.GridPos.W; x++ {
			for y := p.GridPos.Y; y < p.GridPos.Y+p.GridPos.H; y++ {
				if other, ok := cells[[2]int{x, y}]; ok {
					t.Errorf("%q overlaps %q at column %d, row %d", p.Title, other, x, y)
				}
				cells[[2]int{x, y}] = p.Title
			}
		}
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.X+p.GridPos.W > 24 || p.GridPos.W <= 0 {
			t.Errorf("%q: gridPos %+v does not fit 24 columns", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("%q: datasource is not ${datasource}", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%q: no query", p.Title)
		}
	}
	series, labels := knownNames(t)
	for _, q := range d.queries() {
		if u := unknownNames(q.expr, series, labels); len(u) > 0 {
			t.Errorf("%q reads names neither the guard nor the manager exports: %v\n%s", q.panel, u, q.expr)
		}
		if len(seriesIn(q.expr, series)) == 0 {
			t.Errorf("%q reads no Breakwater metric: %s", q.panel, q.expr)
		}
		for _, word := range []string{"prompt", "completion", "message"} {
			if strings.Contains(strings.ToLower(q.expr), word) {
				t.Errorf("%q mentions %s: the dashboard shows counts, never content", q.panel, word)
			}
		}
	}
}

// substitutions are the Grafana variables of the queries, set to the fake guard's labels so that
// the guard panels must find its series. Grafana's $__rate_interval is at least four scrape
// intervals; here 10s over a 1s scrape.
var substitutions = strings.NewReplacer(
	"$namespace", guardNamespace,
	"$workload", guardWorkload,
	"$endpoint", ".*",
	"$__rate_interval", "10s",
)

var labelValuesPattern = regexp.MustCompile(`^label_values\((.*), *([a-z_]+)\)$`)

// TestDashboardQueriesRunInPrometheus runs every panel and variable query through a real
// Prometheus: none may fail to parse or evaluate, and those over guard metrics (without offset
// or a day's window) must return the fake guard's series, scraped with the guards' relabeling.
func TestDashboardQueriesRunInPrometheus(t *testing.T) {
	d := readDashboard(t)
	series, _ := knownNames(t)
	a := startPrometheus(t, startGuard(t))
	waitForScrapes(t, a, 6)
	for _, q := range d.queries() {
		expr := substitutions.Replace(q.expr)
		// label_values(<selector>, <label>) is Grafana's; Prometheus runs its selector.
		if m := labelValuesPattern.FindStringSubmatch(expr); m != nil {
			expr = m[1]
		}
		if strings.Contains(expr, "$") {
			if strings.Contains(strings.ReplaceAll(expr, `"$1"`, ""), "$") {
				t.Errorf("%q: a variable is left after substitution: %s", q.panel, expr)
				continue
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		v, _, _, err := a.Query(ctx, expr, time.Now())
		cancel()
		if err != nil {
			var apiErr *v1.Error
			if errors.As(err, &apiErr) && apiErr.Type == v1.ErrBadData {
				t.Errorf("%q: not valid PromQL: %v\n%s", q.panel, err, expr)
			} else {
				t.Errorf("%q: %v\n%s", q.panel, err, expr)
			}
			continue
		}
		guardOnly := true
		for _, s := range seriesIn(q.expr, series) {
			if !strings.HasPrefix(s, metrics.GuardPrefix) && !strings.HasPrefix(s, metrics.GenAIPrefix) {
				guardOnly = false
			}
		}
		if !guardOnly || strings.Contains(expr, "offset") || strings.Contains(expr, "[24h]") {
			continue
		}
		if vec, ok := v.(model.Vector); !ok || len(vec) == 0 {
			t.Errorf("%q: no data from a scraped guard (%v)\n%s", q.panel, v, expr)
		}
	}
}

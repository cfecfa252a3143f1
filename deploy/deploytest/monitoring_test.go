package deploytest

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

// query is one PromQL expression of the rules or the dashboard, and where
// it comes from.
type query struct {
	where string
	expr  string
}

// rulesOf returns the PrometheusRule of the all-features render.
func rulesOf(t *testing.T, m *manifests) *prometheusRule {
	t.Helper()
	if len(m.PrometheusRules) != 1 {
		t.Fatalf("%d PrometheusRules, want 1", len(m.PrometheusRules))
	}
	return m.PrometheusRules[0]
}

// ruleQueries are the expressions of every rule.
func ruleQueries(t *testing.T, m *manifests) []query {
	t.Helper()
	var qs []query
	for _, g := range rulesOf(t, m).Spec.Groups {
		for _, r := range g.Rules {
			qs = append(qs, query{"rule " + g.Name + "/" + r.Alert + r.Record, r.Expr})
		}
	}
	return qs
}

// TestAlertRules: the PrometheusRule's groups load as a Prometheus rule file
// (strictly: unknown fields fail), every alert is complete, and the alerts
// the issue asks for exist.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	pr := rulesOf(t, render(t, "all-features"))
	file, err := yaml.Marshal(map[string]any{"groups": pr.Spec.Groups})
	if err != nil {
		t.Fatal(err)
	}
	groups, errs := rulefmt.Parse(file, false, model.LegacyValidation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("rule file: %v", err)
	}
	if groups == nil {
		t.Fatalf("rule file did not load:\n%s", file)
	}
	var alerts []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts = append(alerts, r.Alert)
			if r.Labels["severity"] == "" || r.Labels["team"] != "payments" {
				t.Errorf("%s: labels %v, want severity and the alertLabels (team)", r.Alert, r.Labels)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
			if !strings.Contains(r.Expr, `namespace="`+releaseNamespace+`"`) {
				t.Errorf("%s: expression does not select the release namespace: %s", r.Alert, r.Expr)
			}
		}
	}
	// The alerts issue #7 asks for, by what they watch.
	for _, want := range []string{
		"PlaidstreamWebhookVerificationFailures", // verification failures spike
		"PlaidstreamWebhookPublishFailures",      // publish errors / 503s
		"PlaidstreamWebhookKeyUnavailable",       // 503s from key fetches
		"PlaidstreamWebhookLatencyNearPlaidTimeout",
		"PlaidstreamDeadLetters",
		"PlaidstreamSyncFailures",
		"PlaidstreamItemsOverdue",
		"PlaidstreamNoWebhooksReceived",
	} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s (have %v)", want, alerts)
		}
	}
}

// grafanaDashboard holds the parts of Grafana's dashboard JSON we check.
type grafanaDashboard struct {
	UID           string         `json:"uid"`
	Title         string         `json:"title"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource json.RawMessage `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type grafanaPanel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string          `json:"refId"`
		Expr       string          `json:"expr"`
		Datasource json.RawMessage `json:"datasource"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"`
}

// dashboardOf decodes the dashboard from its rendered ConfigMap.
func dashboardOf(t *testing.T, m *manifests) *grafanaDashboard {
	t.Helper()
	for _, cm := range m.ConfigMaps {
		raw, ok := cm.Data["plaidstream.json"]
		if !ok {
			continue
		}
		if cm.Labels["grafana_dashboard"] != "1" {
			t.Errorf("dashboard ConfigMap %s labels %v: no grafana_dashboard sidecar label", cm.Name, cm.Labels)
		}
		var d grafanaDashboard
		if err := json.Unmarshal([]byte(raw), &d); err != nil {
			t.Fatalf("dashboard JSON: %v", err)
		}
		return &d
	}
	t.Fatal("no dashboard ConfigMap rendered")
	return nil
}

// datasourceVar is how every panel and target must name its data source:
// the dashboard variable, never a fixed uid.
const datasourceVar = `{"type":"prometheus","uid":"${datasource}"}`

func TestDashboard(t *testing.T) {
	t.Parallel()
	d := dashboardOf(t, render(t, "all-features"))
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("uid %q, title %q, schemaVersion %d: want both set and a schema of Grafana 9+", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Type == "query" && compactJSON(t, v.Datasource) != datasourceVar {
			t.Errorf("variable %s datasource %s, want %s", v.Name, v.Datasource, datasourceVar)
		}
	}
	if vars["datasource"] != "datasource" {
		t.Errorf("templating variables %v: want a datasource variable", vars)
	}
	ids := map[int]bool{}
	type rect struct {
		title      string
		x, y, w, h int
	}
	var rects []rect
	var walk func(ps []grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			if ids[p.ID] || p.ID == 0 {
				t.Errorf("panel %q: id %d is zero or not unique", p.Title, p.ID)
			}
			ids[p.ID] = true
			g := p.GridPos
			if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
				t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, g)
			}
			for _, r := range rects {
				if g.X < r.x+r.w && r.x < g.X+g.W && g.Y < r.y+r.h && r.y < g.Y+g.H {
					t.Errorf("panel %q overlaps panel %q", p.Title, r.title)
				}
			}
			rects = append(rects, rect{p.Title, g.X, g.Y, g.W, g.H})
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if !slices.Contains([]string{"timeseries", "stat", "gauge", "bargauge", "table", "text"}, p.Type) {
				t.Errorf("panel %q: type %q", p.Title, p.Type)
			}
			if compactJSON(t, p.Datasource) != datasourceVar {
				t.Errorf("panel %q: datasource %s, want %s", p.Title, p.Datasource, datasourceVar)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q: no targets", p.Title)
			}
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				if refs[tg.RefID] || tg.RefID == "" || tg.Expr == "" {
					t.Errorf("panel %q: target refId %q (empty or repeated) expr %q", p.Title, tg.RefID, tg.Expr)
				}
				refs[tg.RefID] = true
				if compactJSON(t, tg.Datasource) != datasourceVar {
					t.Errorf("panel %q target %s: datasource %s, want %s", p.Title, tg.RefID, tg.Datasource, datasourceVar)
				}
			}
		}
	}
	walk(d.Panels)
}

func compactJSON(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// grafanaVar matches Grafana's variables in an expression: $name, ${name},
// ${name:format}.
var grafanaVar = regexp.MustCompile(`\$\{?(\w+)(?::\w+)?\}?`)

// dashboardQueries are the PromQL expressions of every target, with
// Grafana's variables replaced so they parse: intervals by 5m, anything
// else (used only in label matchers) by a placeholder value. Also the
// metric named by each label_values() variable query.
func dashboardQueries(t *testing.T, d *grafanaDashboard) (qs []query, varMetrics []query) {
	t.Helper()
	var walk func(ps []grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				expr := grafanaVar.ReplaceAllStringFunc(tg.Expr, func(v string) string {
					switch grafanaVar.FindStringSubmatch(v)[1] {
					case "__rate_interval", "__interval", "__range":
						return "5m"
					}
					return "placeholder"
				})
				qs = append(qs, query{fmt.Sprintf("panel %q target %s", p.Title, tg.RefID), expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	labelValues := regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*(\w+)\s*\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		var s string
		if err := json.Unmarshal(v.Query, &s); err == nil {
			q.Query = s
		} else if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s query %s: %v", v.Name, v.Query, err)
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, q.Query)
			continue
		}
		// Checked like a selector that groups by the label.
		varMetrics = append(varMetrics, query{"variable " + v.Name, fmt.Sprintf("count by (%s) (%s)", m[2], m[1])})
	}
	return qs, varMetrics
}

// selectorUse is a metric selected by an expression and the labels it
// matches on.
type selectorUse struct {
	where    string
	metric   string
	matchers []*labels.Matcher
}

// groupingUse is a label an aggregation or vector matching names, and the
// metrics below it (one of which must carry the label).
type groupingUse struct {
	where   string
	label   string
	metrics []string
}

// analyze parses each expression and collects the metrics and labels it
// uses.
func analyze(t *testing.T, qs []query) ([]selectorUse, []groupingUse) {
	t.Helper()
	p := parser.NewParser(parser.Options{})
	var sels []selectorUse
	var groups []groupingUse
	for _, q := range qs {
		expr, err := p.ParseExpr(q.expr)
		if err != nil {
			t.Errorf("%s: %q does not parse: %v", q.where, q.expr, err)
			continue
		}
		metricsBelow := func(n parser.Node) []string {
			var names []string
			parser.Inspect(n, func(n parser.Node, _ []parser.Node) error {
				if vs, ok := n.(*parser.VectorSelector); ok {
					names = append(names, selectorName(vs))
				}
				return nil
			})
			return names
		}
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			switch n := n.(type) {
			case *parser.VectorSelector:
				sels = append(sels, selectorUse{q.where, selectorName(n), n.LabelMatchers})
			case *parser.AggregateExpr:
				for _, l := range n.Grouping {
					groups = append(groups, groupingUse{q.where, l, metricsBelow(n.Expr)})
				}
			case *parser.BinaryExpr:
				if n.VectorMatching != nil {
					for _, l := range slices.Concat(n.VectorMatching.MatchingLabels, n.VectorMatching.Include) {
						groups = append(groups, groupingUse{q.where, l, slices.Concat(metricsBelow(n.LHS), metricsBelow(n.RHS))})
					}
				}
			}
			return nil
		})
	}
	return sels, groups
}

func selectorName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return ""
}

// TestQueriesParse: every rule and dashboard expression is valid PromQL and
// selects metrics by name (checked against the binaries in
// TestMonitoringUsesExportedMetrics).
func TestQueriesParse(t *testing.T) {
	t.Parallel()
	m := render(t, "all-features")
	qs, varQs := dashboardQueries(t, dashboardOf(t, m))
	qs = slices.Concat(qs, varQs, ruleQueries(t, m))
	if len(qs) < 20 {
		t.Fatalf("%d expressions, want the dashboard's and the rules' (at least 20)", len(qs))
	}
	sels, _ := analyze(t, qs)
	for _, s := range sels {
		if s.metric == "" {
			t.Errorf("%s: a selector without a metric name", s.where)
		}
	}
}

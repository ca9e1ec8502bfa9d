package metrics_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/ballast-dev/ballast/metrics"
)

// root is the repository's root, from this package's directory.
const root = ".."

// exported is one metric of metrics.All(): its type and label names, and the series
// PromQL knows it by (a histogram is three: _bucket with its le label, _sum, _count).
type exported struct {
	typ    string
	labels labelSet
	series map[string]labelSet
}

// exportedMetrics reads the name, type and labels of every collector of metrics.All()
// the way Prometheus sees them: it adds one series to each (learning how many labels
// the vector takes), gathers it from a registry of its own, and deletes the series.
func exportedMetrics(t *testing.T) map[string]exported {
	t.Helper()
	out := map[string]exported{}
	for _, col := range metrics.All() {
		reg := prometheus.NewPedanticRegistry()
		if err := reg.Register(col); err != nil {
			t.Fatalf("collector cannot be registered on its own: %v", err)
		}
		var values []string
		probe := func() error { return fmt.Errorf("the test does not know collector %T: teach it", col) }
		switch v := col.(type) {
		case *prometheus.CounterVec:
			probe = func() error { _, err := v.GetMetricWithLabelValues(values...); return err }
			defer func() { v.DeleteLabelValues(values...) }()
		case *prometheus.GaugeVec:
			probe = func() error { _, err := v.GetMetricWithLabelValues(values...); return err }
			defer func() { v.DeleteLabelValues(values...) }()
		case *prometheus.HistogramVec:
			probe = func() error { _, err := v.GetMetricWithLabelValues(values...); return err }
			defer func() { v.DeleteLabelValues(values...) }()
		case *metrics.WorkloadSeries:
			// Series made from a table when scraped: a probe workload makes them.
			probe = func() error {
				metrics.WorkloadSplits.Set("probe", "probe", "probe", metrics.WorkloadSplit{})
				return nil
			}
			defer metrics.WorkloadSplits.Delete("probe", "probe", "probe")
		case prometheus.Metric:
			// A collector without labels (a plain Counter) is its one series.
			probe = func() error { return nil }
		}
		for probe() != nil && len(values) < 10 {
			values = append(values, "probe")
		}
		if err := probe(); err != nil {
			t.Fatal(err)
		}
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		if len(families) != 1 || len(families[0].Metric) == 0 {
			t.Fatalf("want one family with the probe series, got %v", families)
		}
		f := families[0]
		labels := labelSet{}
		for _, l := range f.Metric[0].Label {
			labels[l.GetName()] = true
		}
		m := exported{typ: strings.ToLower(f.GetType().String()), labels: labels, series: map[string]labelSet{f.GetName(): labels}}
		if f.GetType() == dto.MetricType_HISTOGRAM {
			// A histogram is three series to PromQL, and its own name none.
			m.series = map[string]labelSet{
				f.GetName() + "_sum": labels, f.GetName() + "_count": labels, f.GetName() + "_bucket": union(labels, setOf("le")),
			}
		}
		out[f.GetName()] = m
	}
	return out
}

// standardMetrics are metrics Ballast's queries may use besides its own: Prometheus's
// own per-target series.
var standardMetrics = map[string]labelSet{
	"up": setOf("job", "instance", "namespace", "pod", "service"),
}

// dashboardQueries returns every PromQL expression of the dashboard's panels by where
// it is, and the query of every query variable by name.
func dashboardQueries(t *testing.T) (exprs map[string]string, variables map[string]string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "config", "monitoring", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string  `json:"title"`
		Type    string  `json:"type"`
		Panels  []panel `json:"panels"`
		Targets []struct {
			Expr  string `json:"expr"`
			RefID string `json:"refId"`
		} `json:"targets"`
	}
	var dash struct {
		UID        string  `json:"uid"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	exprs, variables = map[string]string{}, map[string]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q query %s is empty", p.Title, tg.RefID)
				}
				exprs[fmt.Sprintf("panel %q query %s", p.Title, tg.RefID)] = tg.Expr
			}
		}
	}
	walk(dash.Panels)
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: %v", v.Name, err)
		}
		variables[v.Name] = q.Query
	}
	return exprs, variables
}

// ruleFile is the part of a PrometheusRule the test reads.
type ruleFile struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Record      string            `json:"record"`
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

func readRules(t *testing.T) ruleFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "config", "monitoring", "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(data, &rf); err != nil {
		t.Fatalf("prometheusrule.yaml: %v", err)
	}
	if rf.APIVersion != "monitoring.coreos.com/v1" || rf.Kind != "PrometheusRule" {
		t.Fatalf("prometheusrule.yaml is %s %s, want monitoring.coreos.com/v1 PrometheusRule", rf.APIVersion, rf.Kind)
	}
	return rf
}

var labelValuesQuery = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

// TestQueriesUseExportedMetrics parses every PromQL expression of the Grafana dashboard
// and of the PrometheusRule with Prometheus's parser and checks that each names only
// metrics Ballast exports (or the rules record), with labels those metrics have, in
// selectors, by/without and on/ignoring/group clauses; and that the dashboard and the
// alerts together use every metric.
func TestQueriesUseExportedMetrics(t *testing.T) {
	ours := exportedMetrics(t)
	known := map[string]labelSet{}
	for _, m := range ours {
		for name, labels := range m.series {
			known[name] = labels
		}
	}
	for name, labels := range standardMetrics {
		known[name] = labels
	}
	c := newChecker(known)

	rules := readRules(t)
	alerts := map[string]bool{}
	for _, g := range rules.Spec.Groups {
		for _, r := range g.Rules {
			switch {
			case r.Record != "":
				// A recording rule's series carry its expression's labels.
				c.metrics[r.Record] = c.check(r.Expr)
			case r.Alert != "":
				alerts[r.Alert] = true
				c.check(r.Expr)
				if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
					t.Errorf("alert %s: severity %q, want critical, warning or info", r.Alert, r.Labels["severity"])
				}
				for _, a := range []string{"summary", "description"} {
					if strings.TrimSpace(r.Annotations[a]) == "" {
						t.Errorf("alert %s has no %s annotation", r.Alert, a)
					}
				}
			default:
				t.Errorf("group %s has a rule that neither records nor alerts: %q", g.Name, r.Expr)
			}
		}
	}
	// The alerts users rely on, with their documented durations.
	for alert, wantFor := range map[string]string{
		"BallastPolicySourceNotReady": "15m", "BallastFallbackTooLong": "", "BallastSavingsDropped": "1h", "BallastSplitDrift": "30m",
	} {
		if !alerts[alert] {
			t.Errorf("no alert %s", alert)
		}
		for _, g := range rules.Spec.Groups {
			for _, r := range g.Rules {
				if r.Alert == alert && r.For != wantFor {
					t.Errorf("alert %s: for %q, want %q", alert, r.For, wantFor)
				}
			}
		}
	}

	exprs, variables := dashboardQueries(t)
	for where, expr := range exprs {
		n := len(c.errs)
		c.check(c.substitute(expr))
		for i := n; i < len(c.errs); i++ {
			c.errs[i] = where + ": " + c.errs[i]
		}
	}
	if _, ok := variables["cluster"]; !ok {
		t.Error("the dashboard has no cluster variable")
	}
	for name, q := range variables {
		m := labelValuesQuery.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("variable %s: %q is not label_values(SELECTOR, LABEL)", name, q)
			continue
		}
		if labels := c.check(m[1]); labels != nil && !labels[m[2]] {
			t.Errorf("variable %s: %s has no label %q", name, m[1], m[2])
		}
	}
	for _, e := range c.errs {
		t.Error(e)
	}
	for name, m := range ours {
		used := false
		for series := range m.series {
			used = used || c.used[series]
		}
		if !used {
			t.Errorf("%s is in neither the dashboard nor the alerts", name)
		}
	}
}

// TestCheckerCatchesMistakes shows the checker above fails on the mistakes it is
// there for, so that a pass means something.
func TestCheckerCatchesMistakes(t *testing.T) {
	known := map[string]labelSet{
		"ballast_a": setOf("cluster", "source"),
		"ballast_b": setOf("cluster"),
		"ballast_w": setOf("namespace", "workload"),
	}
	for _, tc := range []struct{ expr, want string }{
		{`ballast_nope`, "ballast_nope is not a metric Ballast exports"},
		{`ballast_b{namespace="x"}`, `ballast_b has no label "namespace"`},
		{`sum by (namespace) (ballast_a)`, `groups by "namespace"`},
		{`max by (cluster) (sum by (source) (ballast_a))`, `groups by "cluster"`},
		{`sum without (pod) (ballast_a)`, `groups by "pod"`},
		{`ballast_a / on (source) ballast_b`, `both sides must have "source"`},
		{`ballast_a * on (cluster) group_left (namespace) ballast_b`, `has no "namespace"`},
		{`sum by (source) (ballast_a / on (cluster) ballast_b)`, `groups by "source"`},
		{`rate(ballast_w{cluster="x"}[5m])`, `ballast_w has no label "cluster"`},
		{`sum(`, "unclosed"},
	} {
		c := newChecker(known)
		c.check(tc.expr)
		if !slices.ContainsFunc(c.errs, func(e string) bool { return strings.Contains(e, tc.want) }) {
			t.Errorf("%s: want an error with %q, got %q", tc.expr, tc.want, c.errs)
		}
	}
	for _, ok := range []string{
		`sum by (cluster) (ballast_a) / on (cluster) (ballast_b > 0)`,
		`ballast_a * on (cluster) group_left ballast_b`,
		`topk(3, ballast_w) and ballast_w > 1`,
		`max by (cluster) (sum by (cluster, source) (rate(ballast_a[5m])))`,
		`time() - ballast_b > 2 * 3600`,
	} {
		c := newChecker(known)
		c.check(ok)
		if len(c.errs) > 0 {
			t.Errorf("%s: want no error, got %q", ok, c.errs)
		}
	}
	c := newChecker(known)
	c.substitute(`rate(ballast_a[$__rate_interval]) * $unknown`)
	if len(c.errs) != 1 || !strings.Contains(c.errs[0], "unknown Grafana variable $unknown") {
		t.Errorf("want one error for $unknown, got %q", c.errs)
	}
}

// docRow matches a metric's row in docs/metrics.md: | `name` | type | `l1`, `l2` | meaning |
var docRow = regexp.MustCompile("^\\|\\s*`(ballast_\\w+)`\\s*\\|\\s*(\\w+)\\s*\\|([^|]*)\\|")

// TestMetricsDocumented checks that docs/metrics.md has a row for every exported metric
// with its type and labels, and none for a metric Ballast does not export.
func TestMetricsDocumented(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := exportedMetrics(t)
	seen := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		m := docRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name, typ := m[1], m[2]
		got, ok := want[name]
		if !ok {
			t.Errorf("docs/metrics.md documents %s, which Ballast does not export", name)
			continue
		}
		seen[name] = true
		if typ != got.typ {
			t.Errorf("docs/metrics.md: %s is a %s, not a %s", name, got.typ, typ)
		}
		var labels []string
		for _, l := range strings.Split(m[3], ",") {
			if l = strings.Trim(strings.TrimSpace(l), "`"); l != "" && l != "-" {
				labels = append(labels, l)
			}
		}
		slices.Sort(labels)
		if !slices.Equal(labels, got.labels.sorted()) {
			t.Errorf("docs/metrics.md: %s has labels %v, not %v", name, got.labels.sorted(), labels)
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("docs/metrics.md has no row for %s", name)
		}
	}
}

// TestMonitoringKustomization builds config/monitoring as kubectl apply -k does: the
// PrometheusRule and the dashboard ConfigMap that Grafana's sidecar loads, holding the
// dashboard file unchanged.
func TestMonitoringKustomization(t *testing.T) {
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(root, "config", "monitoring"))
	if err != nil {
		t.Fatal(err)
	}
	dashboard, err := os.ReadFile(filepath.Join(root, "config", "monitoring", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, r := range res.Resources() {
		kinds = append(kinds, r.GetKind()+"/"+r.GetNamespace()+"/"+r.GetName())
		if r.GetKind() != "ConfigMap" {
			continue
		}
		if r.GetLabels()["grafana_dashboard"] != "1" {
			t.Errorf("the dashboard ConfigMap is not labelled grafana_dashboard=1: %v", r.GetLabels())
		}
		if got := r.GetDataMap()["ballast.json"]; got != string(dashboard) {
			t.Error("the dashboard ConfigMap's ballast.json differs from grafana-dashboard.json")
		}
	}
	slices.Sort(kinds)
	want := []string{"ConfigMap/ballast-system/ballast-dashboard", "PrometheusRule/ballast-system/ballast"}
	if !slices.Equal(kinds, want) {
		t.Errorf("config/monitoring builds %v, want %v", kinds, want)
	}
}

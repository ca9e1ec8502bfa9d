package metrics_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

// TestRulesLoad checks the PrometheusRule's groups as Prometheus loads a rule file
// (what promtool check rules does): no unknown field, valid names and durations, every
// expression and every annotation template parses.
func TestRulesLoad(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "config", "monitoring", "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Spec map[string]any `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &obj); err != nil {
		t.Fatal(err)
	}
	groups, err := yaml.Marshal(obj.Spec)
	if err != nil {
		t.Fatal(err)
	}
	rgs, errs := rulefmt.Parse(groups, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, e := range errs {
		t.Error(e)
	}
	if len(errs) == 0 && len(rgs.Groups) != 2 {
		t.Errorf("want 2 rule groups (recording, alerts), got %d", len(rgs.Groups))
	}
}

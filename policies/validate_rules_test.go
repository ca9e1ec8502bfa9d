package policies

import (
	"strings"
	"testing"
)

func TestOverlappingRules(t *testing.T) {
	sel := func(s string) string {
		if s == "" {
			return "  onDemandPercent: 10\n"
		}
		return "  workloadSelector:\n" + s + "  onDemandPercent: 10\n"
	}
	labels := func(kv string) string { return "    matchLabels: {" + kv + "}\n" }
	expr := func(key, op, values string) string {
		s := "    matchExpressions:\n      - key: " + key + "\n        operator: " + op + "\n"
		if values != "" {
			s += "        values: [" + values + "]\n"
		}
		return s
	}
	overlap := []string{"error overlapping-rules spec.workloadSelector"}
	for _, tc := range []struct {
		name   string
		a, b   string
		nsB    string
		policy string
		want   []string
	}{
		{name: "both namespace-wide", a: sel(""), b: sel(""), want: []string{"error overlapping-rules metadata.name"}},
		{name: "different specificity", a: sel(""), b: sel(labels("app: web"))},
		{name: "different values", a: sel(labels("app: web")), b: sel(labels("app: api"))},
		{name: "value in a set", a: sel(labels("app: web")), b: sel(expr("app", "In", "web, api")), want: overlap},
		{name: "disjoint sets", a: sel(expr("app", "In", "a, b")), b: sel(expr("app", "In", "c"))},
		{name: "In and NotIn", a: sel(expr("app", "In", "a")), b: sel(expr("app", "NotIn", "a"))},
		{name: "In and NotIn of another value", a: sel(expr("app", "In", "a")), b: sel(expr("app", "NotIn", "b")), want: overlap},
		{name: "Exists and DoesNotExist", a: sel(expr("app", "Exists", "")), b: sel(expr("app", "DoesNotExist", ""))},
		{name: "NotIn and DoesNotExist", a: sel(expr("app", "NotIn", "a")), b: sel(expr("app", "DoesNotExist", "")), want: overlap},
		{name: "In and DoesNotExist", a: sel(labels("app: web")), b: sel(expr("app", "DoesNotExist", ""))},
		{name: "different keys", a: sel(labels("app: web")), b: sel(labels("tier: frontend")), want: overlap},
		{name: "two requirements, one disjoint", a: sel(labels("app: web, tier: a")), b: sel(labels("app: web, tier: b"))},
		{name: "two requirements, both shared", a: sel(labels("app: web, tier: a")), b: sel(labels("app: web") + expr("tier", "In", "a, b")), want: overlap},
		{name: "other namespace", a: sel(""), b: sel(""), nsB: "blog"},
		{name: "different clusters", policy: strings.ReplaceAll(basePolicy, "prod", "staging"),
			a: "  clusters: [prod]\n" + sel(""), b: "  clusters: [staging]\n" + sel("")},
		{name: "one cluster and every cluster", a: "  clusters: [prod]\n" + sel(""), b: sel(""), want: []string{"error overlapping-rules metadata.name"}},
		{name: "a selector that never matches", a: sel(labels("app: web")), b: sel(labels("app: web") + expr("app", "NotIn", "web")),
			want: []string{"warning invalid-selector spec.workloadSelector"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nsB := tc.nsB
			if nsB == "" {
				nsB = "shop"
			}
			docs := []string{basePolicy, ruleDoc("a", "shop", tc.a), ruleDoc("b", nsB, tc.b)}
			if tc.policy != "" {
				docs = append(docs, tc.policy)
			}
			fs := validateFiles(t, Options{}, docs...)
			got := keys(fs)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %q, want %q\n%v", got, tc.want, fs)
			}
			for _, f := range fs {
				if f.Rule == RuleOverlappingRules && (f.File != "f2.yaml" || !strings.Contains(f.Message, "shop/a (f1.yaml:")) {
					t.Errorf("the finding must be on the later rule and name the earlier one: %s", f)
				}
			}
		})
	}
}

func TestOverlapsReportedOncePerLaterRule(t *testing.T) {
	docs := []string{basePolicy}
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		docs = append(docs, ruleDoc(n, "shop", "  onDemandPercent: 10\n"))
	}
	fs := validateFiles(t, Options{}, docs...)
	if len(fs) != 5 {
		t.Fatalf("want one finding on each of the 5 later rules, got %v", fs)
	}
	if last := fs[4].Message; !strings.Contains(last, "and 2 more") {
		t.Errorf("the last rule overlaps 5 others; the message should name 3 and count the rest: %s", last)
	}
}

func TestInvalidSelectors(t *testing.T) {
	runValidateCases(t, []validateCase{
		{name: "bad label key", extra: []string{ruleDoc("a", "shop", "  workloadSelector:\n    matchLabels:\n      bad key: x\n")},
			want: []string{`error invalid-selector spec.workloadSelector.matchLabels["bad key"]`}},
		{name: "bad label value", extra: []string{ruleDoc("a", "shop", "  workloadSelector:\n    matchLabels:\n      app: -web-\n")},
			want: []string{`error invalid-selector spec.workloadSelector.matchLabels["app"]`}},
		{name: "In without values", extra: []string{ruleDoc("a", "shop", "  workloadSelector:\n    matchExpressions:\n      - {key: app, operator: In}\n")},
			want: []string{"error invalid-selector spec.workloadSelector.matchExpressions[0]"}},
		{name: "Exists with values", extra: []string{ruleDoc("a", "shop", "  workloadSelector:\n    matchExpressions:\n      - {key: app, operator: Exists, values: [a]}\n")},
			want: []string{"error invalid-selector spec.workloadSelector.matchExpressions[0].values"}},
		{name: "bad expression key", extra: []string{ruleDoc("a", "shop", "  workloadSelector:\n    matchExpressions:\n      - {key: \"a/b/c\", operator: Exists}\n")},
			want: []string{"error invalid-selector spec.workloadSelector.matchExpressions[0].key"}},
		{name: "operator typo", extra: []string{ruleDoc("a", "shop", "  workloadSelector:\n    matchExpressions:\n      - {key: app, operator: Exist}\n")},
			want: []string{"error invalid-selector spec.workloadSelector.matchExpressions[0].operator"}, contains: `did you mean "Exists"`},
		{name: "rule enums and ranges", extra: []string{ruleDoc("a", "shop", "  strategy: Cheap\n  selector: Some\n  onDemandPercent: 101\n")},
			want: []string{"error invalid-value spec.strategy", "error invalid-value spec.selector", "error out-of-range spec.onDemandPercent"}},
	})
}

// TestTooComplex covers the too-complex rule, which has no examples/invalid case: a
// document needs more than 200,000 nodes (aliases expanded) to trigger it.
func TestTooComplex(t *testing.T) {
	var b strings.Builder
	b.WriteString(basePolicy + "  maintenanceWindows:\n    - &w {name: a, days: [Mon, Tue, Wed, Thu, Fri, Sat, Sun], start: \"01:00\", end: \"02:00\", allow: [Consolidation, PodEviction, ReverseFallback]}\n")
	for range 20_000 {
		b.WriteString("    - *w\n")
	}
	fs := LoadBytes("big.yaml", []byte(b.String())).Validate()
	if got := keys(fs); len(got) != 1 || !strings.HasPrefix(got[0], "error too-complex ") {
		t.Errorf("want one too-complex finding, got %v", fs)
	}
}

package metrics_test

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
)

// labelSet is the label names a PromQL expression's series carry.
type labelSet map[string]bool

func setOf(names ...string) labelSet {
	s := labelSet{}
	for _, n := range names {
		s[n] = true
	}
	return s
}

func (s labelSet) sorted() []string { return slices.Sorted(maps.Keys(s)) }

// checker follows the label sets through PromQL expressions (Prometheus's own parser)
// and records every metric that is not known and every label a selector, a by or
// without clause, or an on, ignoring or group_* clause names that the series there do
// not carry.
type checker struct {
	// metrics are the known metrics and their labels (Ballast's, recording rules').
	metrics map[string]labelSet
	// used collects the metric names the expressions select.
	used map[string]bool
	errs []string
}

func newChecker(metrics map[string]labelSet) *checker {
	return &checker{metrics: maps.Clone(metrics), used: map[string]bool{}}
}

func (c *checker) errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

// grafanaVariables are what the dashboard's queries may use, with a value that parses.
var grafanaVariables = map[string]string{
	"__rate_interval": "5m", "__interval": "1m", "__range": "1d", "cluster": "prod",
}

var grafanaVariable = regexp.MustCompile(`\$\{?(\w+)\}?`)

// substitute replaces Grafana's variables with values, as Grafana does before sending
// the query.
func (c *checker) substitute(expr string) string {
	return grafanaVariable.ReplaceAllStringFunc(expr, func(v string) string {
		name := grafanaVariable.FindStringSubmatch(v)[1]
		value, ok := grafanaVariables[name]
		if !ok {
			c.errorf("%s: unknown Grafana variable $%s", expr, name)
			return "x"
		}
		return value
	})
}

// check parses expr and checks it; it returns the labels of its result.
func (c *checker) check(expr string) labelSet {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		c.errorf("%s: %v", expr, err)
		return nil
	}
	n := len(c.errs)
	labels, _ := c.infer(e)
	for i := n; i < len(c.errs); i++ {
		c.errs[i] = strings.Join(strings.Fields(expr), " ") + ": " + c.errs[i]
	}
	return labels
}

// infer returns the labels of e's series and whether e is a vector (instant or range).
func (c *checker) infer(e parser.Expr) (labelSet, bool) {
	switch n := e.(type) {
	case *parser.VectorSelector:
		name := n.Name
		for _, m := range n.LabelMatchers {
			if m.Name == "__name__" {
				name = m.Value
			}
		}
		labels, ok := c.metrics[name]
		if !ok {
			c.errorf("%s is not a metric Ballast exports", name)
			return labelSet{}, true
		}
		c.used[name] = true
		for _, m := range n.LabelMatchers {
			if m.Name != "__name__" && !labels[m.Name] {
				c.errorf("%s has no label %q (it has %v)", name, m.Name, labels.sorted())
			}
		}
		return maps.Clone(labels), true
	case *parser.MatrixSelector:
		return c.infer(n.VectorSelector)
	case *parser.SubqueryExpr:
		return c.infer(n.Expr)
	case *parser.ParenExpr:
		return c.infer(n.Expr)
	case *parser.UnaryExpr:
		return c.infer(n.Expr)
	case *parser.StepInvariantExpr:
		return c.infer(n.Expr)
	case *parser.NumberLiteral, *parser.StringLiteral:
		return nil, false
	case *parser.Call:
		return c.call(n)
	case *parser.AggregateExpr:
		return c.aggregate(n)
	case *parser.BinaryExpr:
		return c.binary(n)
	}
	c.errorf("the test does not know PromQL node %T: teach it", e)
	return labelSet{}, true
}

func (c *checker) call(n *parser.Call) (labelSet, bool) {
	var args []labelSet
	var vector []bool
	for _, a := range n.Args {
		l, v := c.infer(a)
		args, vector = append(args, l), append(vector, v)
	}
	if n.Func.ReturnType == parser.ValueTypeScalar || n.Func.ReturnType == parser.ValueTypeString {
		return nil, false
	}
	switch n.Func.Name {
	case "vector", "absent", "absent_over_time":
		return labelSet{}, true
	case "label_replace", "label_join":
		out := maps.Clone(args[0])
		if dst, ok := n.Args[1].(*parser.StringLiteral); ok {
			out[dst.Val] = true
		}
		return out, true
	case "histogram_quantile":
		out := maps.Clone(args[1])
		delete(out, "le")
		return out, true
	}
	for i, v := range vector {
		if v {
			return maps.Clone(args[i]), true
		}
	}
	return labelSet{}, true
}

func (c *checker) aggregate(n *parser.AggregateExpr) (labelSet, bool) {
	inner, _ := c.infer(n.Expr)
	if n.Param != nil {
		c.infer(n.Param)
	}
	for _, g := range n.Grouping {
		if !inner[g] {
			c.errorf("%s (%s) groups by %q, which its series do not have (they have %v)", n.Op, map[bool]string{true: "without", false: "by"}[n.Without], g, inner.sorted())
		}
	}
	switch {
	case n.Op == parser.TOPK || n.Op == parser.BOTTOMK || n.Op == parser.LIMITK || n.Op == parser.LIMIT_RATIO:
		return inner, true
	case n.Without:
		out := maps.Clone(inner)
		for _, g := range n.Grouping {
			delete(out, g)
		}
		return out, true
	}
	out := setOf(n.Grouping...)
	if n.Op == parser.COUNT_VALUES {
		if s, ok := n.Param.(*parser.StringLiteral); ok {
			out[s.Val] = true
		}
	}
	return out, true
}

func (c *checker) binary(n *parser.BinaryExpr) (labelSet, bool) {
	l, lv := c.infer(n.LHS)
	r, rv := c.infer(n.RHS)
	switch {
	case !lv && !rv:
		return nil, false
	case !rv:
		return l, true
	case !lv:
		return r, true
	}
	m := n.VectorMatching
	if m == nil {
		m = &parser.VectorMatching{Card: parser.CardOneToOne}
	}
	for _, name := range m.MatchingLabels {
		switch {
		case m.On && (!l[name] || !r[name]):
			c.errorf("on (%s): both sides must have %q (left: %v, right: %v)", strings.Join(m.MatchingLabels, ", "), name, l.sorted(), r.sorted())
		case !m.On && !l[name] && !r[name]:
			c.errorf("ignoring (%s): neither side has %q", strings.Join(m.MatchingLabels, ", "), name)
		}
	}
	one := r
	if m.Card == parser.CardOneToMany {
		one = l
	}
	for _, name := range m.Include {
		if !one[name] {
			c.errorf("group_left/group_right (%s): the side with one series per match has no %q (it has %v)", strings.Join(m.Include, ", "), name, one.sorted())
		}
	}
	switch {
	case n.Op == parser.LAND || n.Op == parser.LUNLESS:
		return l, true
	case n.Op == parser.LOR:
		out := labelSet{}
		for k := range l {
			if r[k] {
				out[k] = true
			}
		}
		return out, true
	case m.Card == parser.CardManyToOne:
		return union(l, setOf(m.Include...)), true
	case m.Card == parser.CardOneToMany:
		return union(r, setOf(m.Include...)), true
	case m.On:
		return setOf(m.MatchingLabels...), true
	}
	out := maps.Clone(l)
	for _, name := range m.MatchingLabels {
		delete(out, name)
	}
	return out, true
}

func union(a, b labelSet) labelSet {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

package plan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// obj decodes a JSON object the way Objects does (numbers as json.Number).
func obj(t *testing.T, cluster, kind, ns, name, content string) Object {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(content))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s: %v", content, err)
	}
	return Object{Key: Key{Cluster: cluster, Kind: kind, Namespace: ns, Name: name}, Content: m}
}

func TestDiff(t *testing.T) {
	base := []Object{
		obj(t, "prod", "NodePool", "", "ballast-prod-spot", `{"metadata":{"name":"ballast-prod-spot","labels":{"ballast.dev/cluster":"prod"}},
			"spec":{"disruption":{"consolidateAfter":"5m","budgets":[{"nodes":"10%"}]},"limits":{"cpu":"2000"},
			"template":{"spec":{"requirements":[
				{"key":"karpenter.sh/capacity-type","operator":"In","values":["spot"]},
				{"key":"karpenter.k8s.aws/instance-cpu","operator":"Gt","values":["1"]},
				{"key":"karpenter.k8s.aws/instance-cpu","operator":"Lt","values":["33"]},
				{"key":"karpenter.k8s.aws/instance-category","operator":"In","values":["c","m","r"]}]}}}}`),
		obj(t, "prod", "WorkloadDistributionRule", "shop", "old", `{"spec":{"onDemandPercent":10}}`),
		obj(t, "prod", "EC2NodeClass", "", "ballast-prod", `{"spec":{"tags":{"team":"a"},"blockDeviceMappings":[{"deviceName":"/dev/xvda","ebs":{"volumeSize":"100Gi"}}]}}`),
		obj(t, "dev", "NodePool", "", "ballast-dev-spot", `{"spec":{"weight":10}}`),
	}
	head := []Object{
		obj(t, "prod", "NodePool", "", "ballast-prod-spot", `{"metadata":{"name":"ballast-prod-spot","labels":{"ballast.dev/cluster":"prod"},"annotations":{"x":"y"}},
			"spec":{"disruption":{"consolidateAfter":"10m","budgets":[{"nodes":"10%"},{"nodes":"0","schedule":"0 8 * * 1-5","duration":"14h"}]},"limits":{"cpu":2000},
			"template":{"spec":{"requirements":[
				{"key":"karpenter.sh/capacity-type","operator":"In","values":["spot"]},
				{"key":"karpenter.k8s.aws/instance-cpu","operator":"Gt","values":["3"]},
				{"key":"karpenter.k8s.aws/instance-cpu","operator":"Lt","values":["33"]},
				{"key":"kubernetes.io/arch","operator":"In","values":["arm64"]}]}}}}`),
		obj(t, "prod", "WorkloadDistributionRule", "batch", "nightly", `{"spec":{"onDemandPercent":0}}`),
		obj(t, "prod", "EC2NodeClass", "", "ballast-prod", `{"spec":{"tags":{"team":"a"},"blockDeviceMappings":[{"deviceName":"/dev/xvda","ebs":{"volumeSize":"200Gi"}}]}}`),
		obj(t, "dev", "NodePool", "", "ballast-dev-spot", `{"spec":{"weight":10}}`),
	}
	changes := Diff(base, head)
	var buf bytes.Buffer
	if err := WriteText(&buf, changes); err != nil {
		t.Fatal(err)
	}
	want := `cluster prod:
  ~ EC2NodeClass ballast-prod
      spec.blockDeviceMappings[deviceName=/dev/xvda].ebs.volumeSize: 100Gi -> 200Gi
  ~ NodePool ballast-prod-spot
      metadata.annotations: (none) -> {x: y}
      spec.disruption.budgets[1]: (none) -> {duration: 14h, nodes: "0", schedule: 0 8 * * 1-5}
      spec.disruption.consolidateAfter: 5m -> 10m
      spec.limits.cpu: "2000" -> 2000
      spec.template.spec.requirements[key=karpenter.k8s.aws/instance-cpu,operator=Gt].values: ["1"] -> ["3"]
      spec.template.spec.requirements[key=kubernetes.io/arch,operator=In]: (none) -> {key: kubernetes.io/arch, operator: In, values: [arm64]}
      spec.template.spec.requirements[key=karpenter.k8s.aws/instance-category,operator=In]: {key: karpenter.k8s.aws/instance-category, operator: In, values: [c, m, r]} -> (none)
  + WorkloadDistributionRule batch/nightly
  - WorkloadDistributionRule shop/old
`
	if got := buf.String(); got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
	if c := Count(changes, "prod"); c.String() != "2 changed, 1 added, 1 removed" || c.Total() != 4 {
		t.Errorf("Count = %v", c)
	}
	if len(Diff(head, head)) != 0 {
		t.Error("an object differs from itself")
	}
}

func TestFormatValue(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want string
	}{
		{nil, "(none)"},
		{"plain", "plain"},
		{"", `""`},
		{"true", `"true"`},
		{"10", `"10"`},
		{"1.5e3", `"1.5e3"`},
		{"10%", "10%"},
		{"%x", `"%x"`},
		{"a: b", `"a: b"`},
		{"-x", `"-x"`},
		{"22:00", "22:00"},
		{"al2023@latest", "al2023@latest"},
		{json.Number("12"), "12"},
		{true, "true"},
		{[]any{"a", json.Number("1"), map[string]any{"b": "c", "a": []any{}}}, "[a, 1, {a: [], b: c}]"},
		{map[string]any{"ballast.dev/x": "y,z"}, `{ballast.dev/x: "y,z"}`},
	} {
		if got := FormatValue(tc.in); got != tc.want {
			t.Errorf("FormatValue(%#v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestJoinKey(t *testing.T) {
	for _, tc := range [][3]string{
		{"", "spec", "spec"},
		{"spec", "limits", "spec.limits"},
		{"metadata.labels", "ballast.dev/cluster", `metadata.labels["ballast.dev/cluster"]`},
		{"x", "with space", `x["with space"]`},
	} {
		if got := joinKey(tc[0], tc[1]); got != tc[2] {
			t.Errorf("joinKey(%q, %q) = %s, want %s", tc[0], tc[1], got, tc[2])
		}
	}
}

package cost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/resource"
)

// ScenarioGroup is the API group of scenario files; the policy loader ignores
// documents outside ballast.dev, so a scenario may live in a policy repository.
const ScenarioGroup = "estimate.ballast.dev"

// ScenarioAPIVersion and ScenarioKind identify a scenario file.
const (
	ScenarioAPIVersion = ScenarioGroup + "/v1alpha1"
	ScenarioKind       = "Scenario"
)

// Scenario describes a cluster without a snapshot: either node groups as they run
// (count, instance type, pods per node, and optionally the share of the nodes on
// Spot) or workloads whose replicas the policy places. See examples/estimate.
type Scenario struct {
	APIVersion string `yaml:"apiVersion" json:"apiVersion"`
	Kind       string `yaml:"kind" json:"kind"`
	Metadata   struct {
		Name string `yaml:"name" json:"name"`
	} `yaml:"metadata" json:"metadata"`
	Spec ScenarioSpec `yaml:"spec" json:"spec"`
}

// ScenarioSpec is the content of a scenario.
type ScenarioSpec struct {
	// Cluster is the cluster whose policy applies, when --cluster is not given.
	Cluster string `yaml:"cluster,omitempty" json:"cluster,omitempty"`
	// Region overrides the policy's region.
	Region string `yaml:"region,omitempty" json:"region,omitempty"`
	// Date (YYYY-MM-DD) is the day the estimate is for; commitments that expired
	// before it are left out.
	Date string `yaml:"date,omitempty" json:"date,omitempty"`
	// Idle is the scheduled scale-down.
	Idle *IdleSpec `yaml:"idle,omitempty" json:"idle,omitempty"`
	// InstanceTypes restricts the types the policy plans nodes on.
	InstanceTypes []string `yaml:"instanceTypes,omitempty" json:"instanceTypes,omitempty"`
	// Nodes are node groups as they run. Exclusive with Workloads.
	Nodes []NodeGroup `yaml:"nodes,omitempty" json:"nodes,omitempty"`
	// Workloads are replicas the policy splits and places on nodes it plans.
	Workloads []ScenarioWorkload `yaml:"workloads,omitempty" json:"workloads,omitempty"`
	// DaemonSets run one pod on every node.
	DaemonSets []ScenarioDaemonSet `yaml:"daemonSets,omitempty" json:"daemonSets,omitempty"`
}

// IdleSpec is a scheduled scale-down.
type IdleSpec struct {
	// Fraction of the month (0-1) the cluster is scaled down, e.g. 0.5 for nights.
	Fraction float64 `yaml:"fraction" json:"fraction"`
	// MinNodes keep running while it is.
	MinNodes int `yaml:"minNodes" json:"minNodes"`
}

// NodeGroup is Count nodes of one instance type, each running the same pods.
type NodeGroup struct {
	Count        int    `yaml:"count" json:"count"`
	InstanceType string `yaml:"instanceType" json:"instanceType"`
	// SpotShare is the share of the group's nodes on Spot (0-1); the On-Demand count
	// is rounded up. Set it on every group (the nodes are priced as described) or on
	// none (the policy splits the pods' replicas, or, without pods, the nodes).
	SpotShare *float64 `yaml:"spotShare,omitempty" json:"spotShare,omitempty"`
	// Pods run on every node of the group.
	Pods []PodGroup `yaml:"pods,omitempty" json:"pods,omitempty"`
}

// PodGroup is Count pods of one workload on a node.
type PodGroup struct {
	Namespace string `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	Workload  string `yaml:"workload" json:"workload"`
	Count     int    `yaml:"count,omitempty" json:"count,omitempty"`
	CPU       string `yaml:"cpu" json:"cpu"`
	Memory    string `yaml:"memory" json:"memory"`
	// GPU is the number of NVIDIA GPUs (nvidia.com/gpu) each pod requests.
	GPU int64 `yaml:"gpu,omitempty" json:"gpu,omitempty"`
}

// ScenarioWorkload is a workload with replicas.
type ScenarioWorkload struct {
	Namespace   string            `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	Name        string            `yaml:"name" json:"name"`
	Kind        string            `yaml:"kind,omitempty" json:"kind,omitempty"`
	Replicas    int               `yaml:"replicas" json:"replicas"`
	CPU         string            `yaml:"cpu" json:"cpu"`
	Memory      string            `yaml:"memory" json:"memory"`
	Labels      map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty" json:"annotations,omitempty"`
	// GPU is the number of NVIDIA GPUs (nvidia.com/gpu) each replica requests.
	GPU int64 `yaml:"gpu,omitempty" json:"gpu,omitempty"`
}

// ScenarioDaemonSet is a DaemonSet: one pod on every node.
type ScenarioDaemonSet struct {
	Namespace string `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	Name      string `yaml:"name" json:"name"`
	CPU       string `yaml:"cpu" json:"cpu"`
	Memory    string `yaml:"memory" json:"memory"`
}

// isScenario reports whether data is a scenario: whether the apiVersion of its first
// document is in ScenarioGroup.
func isScenario(data []byte) bool {
	if scenario, known := scenarioHead(data[:min(len(data), sniffLimit)], len(data) <= sniffLimit); known {
		return scenario
	}
	var head struct {
		APIVersion string `yaml:"apiVersion"`
	}
	_ = yaml.Unmarshal(data, &head)
	group, _, _ := strings.Cut(head.APIVersion, "/")
	return group == ScenarioGroup
}

// sniffLimit is how much of a file scenarioHead looks at.
const sniffLimit = 64 << 10

// scenarioHead tells a scenario from a snapshot by the start of the file (head; whole
// when complete) without parsing a snapshot of a hundred megabytes to find its
// apiVersion: it reads the first document's top-level apiVersion line (or JSON key),
// which kubectl and people write first. known is false when it cannot tell (the
// apiVersion is not in head, or written in a way only a parser reads).
func scenarioHead(head []byte, complete bool) (scenario, known bool) {
	isGroup := func(apiVersion string) bool {
		group, _, _ := strings.Cut(apiVersion, "/")
		return group == ScenarioGroup
	}
	if t := bytes.TrimLeft(head, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(t))
		if _, err := dec.Token(); err != nil {
			return false, false
		}
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return false, false
			}
			if key == "apiVersion" {
				var v string
				if err := dec.Decode(&v); err != nil {
					return false, false
				}
				return isGroup(v), true
			}
			if err := dec.Decode(&skipJSON{}); err != nil {
				return false, false
			}
		}
		return false, true // an object without apiVersion
	}
	content := false
	for line := range bytes.Lines(head) {
		if !complete && !bytes.HasSuffix(line, []byte("\n")) {
			return false, false // cut short
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(bytes.TrimSpace(line)) == 0, line[0] == '#', line[0] == ' ', !content && line[0] == '%':
			continue
		case marker(line, "---") || marker(line, "..."):
			if content {
				return false, true // the first document has no apiVersion line
			}
			continue
		}
		key, empty, ok := plainKey(line)
		if !ok {
			return false, false
		}
		content = true
		if string(key) == "apiVersion" && !empty {
			v := strings.TrimSpace(string(line[len(key)+1:]))
			if i := strings.Index(v, " #"); i >= 0 {
				v = strings.TrimSpace(v[:i])
			}
			if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
				v = v[1 : len(v)-1]
			}
			return isGroup(v), true
		}
	}
	return false, complete
}

// ParseScenario reads a scenario file strictly: unknown fields are errors.
func ParseScenario(data []byte) (*Scenario, error) {
	var head struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
	}
	_ = yaml.Unmarshal(data, &head)
	if head.APIVersion != ScenarioAPIVersion || head.Kind != ScenarioKind {
		return nil, fmt.Errorf("not a scenario: want apiVersion %s and kind %s, got %q %q", ScenarioAPIVersion, ScenarioKind, head.APIVersion, head.Kind)
	}
	var s Scenario
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the scenario file is empty")
		}
		return nil, fmt.Errorf("invalid scenario: %w", err)
	}
	return &s, nil
}

// Workload turns the scenario into the workload it describes.
func (s *Scenario) Workload() (*Workload, error) {
	sp := &s.Spec
	w := &Workload{Name: s.Metadata.Name, Cluster: sp.Cluster, Region: sp.Region, InstanceTypes: sp.InstanceTypes}
	if sp.Date != "" {
		d, err := time.Parse(time.DateOnly, sp.Date)
		if err != nil {
			return nil, fmt.Errorf("spec.date %q is not a date: write YYYY-MM-DD", sp.Date)
		}
		w.Date = d
	}
	if sp.Idle != nil {
		w.Schedule = Schedule{IdleFraction: sp.Idle.Fraction, MinNodes: sp.Idle.MinNodes}
		if err := w.Schedule.validate(); err != nil {
			return nil, fmt.Errorf("spec.idle: %w", err)
		}
	}
	var daemonPods []Pod
	for i, d := range sp.DaemonSets {
		r, err := requests(fmt.Sprintf("spec.daemonSets[%d]", i), d.CPU, d.Memory, 0)
		if err != nil {
			return nil, err
		}
		ns := namespaceOr(d.Namespace)
		if d.Name == "" {
			return nil, fmt.Errorf("spec.daemonSets[%d].name is missing", i)
		}
		w.DaemonSets = append(w.DaemonSets, App{Namespace: ns, Name: d.Name, Kind: "DaemonSet", Requests: r})
		daemonPods = append(daemonPods, Pod{Namespace: ns, Workload: d.Name, Requests: r, DaemonSet: true})
	}
	switch {
	case len(sp.Nodes) > 0 && len(sp.Workloads) > 0:
		return nil, errors.New("spec.nodes and spec.workloads are exclusive: describe nodes as they run, or workloads for the policy to place")
	case len(sp.Nodes) > 0:
		return w, s.addNodes(w, daemonPods)
	case len(sp.Workloads) > 0:
		return w, s.addWorkloads(w)
	}
	return nil, errors.New("the scenario describes neither spec.nodes nor spec.workloads")
}

func namespaceOr(ns string) string {
	if ns == "" {
		return "default"
	}
	return ns
}

func requests(field, cpu, memory string, gpu int64) (Resources, error) {
	c, err := resource.ParseQuantity(cpu)
	if err != nil {
		return Resources{}, fmt.Errorf("%s.cpu %q is not a quantity such as 500m or 2", field, cpu)
	}
	m, err := resource.ParseQuantity(memory)
	if err != nil {
		return Resources{}, fmt.Errorf("%s.memory %q is not a quantity such as 512Mi or 4Gi", field, memory)
	}
	if c.Sign() < 0 || m.Sign() < 0 || gpu < 0 {
		return Resources{}, fmt.Errorf("%s: requests must not be negative", field)
	}
	return Resources{MilliCPU: c.MilliValue(), Memory: m.Value(), GPU: gpu}, nil
}

func (s *Scenario) addNodes(w *Workload, daemonPods []Pod) error {
	groups := s.Spec.Nodes
	withShare, withPods := 0, 0
	for _, g := range groups {
		if g.SpotShare != nil {
			withShare++
		}
		if len(g.Pods) > 0 {
			withPods++
		}
	}
	if withShare != 0 && withShare != len(groups) {
		return errors.New("set spotShare on every node group (the nodes run as described) or on none (the policy decides)")
	}
	planned := withShare == 0 && withPods > 0
	if planned && withPods != len(groups) {
		return errors.New("without spotShare the policy places the pods of the node groups: give every group pods, or none")
	}
	apps := map[string]*App{}
	types := map[string]bool{}
	for gi, g := range groups {
		field := fmt.Sprintf("spec.nodes[%d]", gi)
		if g.Count < 1 {
			return fmt.Errorf("%s.count must be at least 1", field)
		}
		if g.InstanceType == "" {
			return fmt.Errorf("%s.instanceType is missing", field)
		}
		types[g.InstanceType] = true
		onDemand := g.Count
		if g.SpotShare != nil {
			share := *g.SpotShare
			if share < 0 || share > 1 {
				return fmt.Errorf("%s.spotShare %v is not between 0 and 1", field, share)
			}
			// On-Demand rounded up, with a tolerance for binary fractions (10 * 0.4).
			onDemand = int(math.Ceil(float64(g.Count)*(1-share) - 1e-9))
		}
		var pods []Pod
		for pi, pg := range g.Pods {
			pf := fmt.Sprintf("%s.pods[%d]", field, pi)
			r, err := requests(pf, pg.CPU, pg.Memory, pg.GPU)
			if err != nil {
				return err
			}
			if pg.Workload == "" {
				return fmt.Errorf("%s.workload is missing", pf)
			}
			count := pg.Count
			if count == 0 {
				count = 1
			}
			if count < 0 {
				return fmt.Errorf("%s.count must not be negative", pf)
			}
			ns := namespaceOr(pg.Namespace)
			for range count {
				pods = append(pods, Pod{Namespace: ns, Workload: pg.Workload, Requests: r})
			}
			key := ns + "/" + pg.Workload
			if a := apps[key]; a == nil {
				apps[key] = &App{Namespace: ns, Name: pg.Workload, Replicas: count * g.Count, Requests: r}
			} else if a.Requests != r {
				return fmt.Errorf("%s: workload %s is listed with other requests elsewhere; give each workload one size", pf, key)
			} else {
				a.Replicas += count * g.Count
			}
		}
		pods = append(pods, daemonPods...)
		for i := range g.Count {
			n := Node{Name: fmt.Sprintf("%s-%d", g.InstanceType, len(w.Nodes)+1), InstanceType: g.InstanceType, Pods: slices.Clone(pods)}
			if g.SpotShare != nil {
				n.CapacityType = Spot
				if i < onDemand {
					n.CapacityType = OnDemand
				}
			}
			w.Nodes = append(w.Nodes, n)
		}
	}
	if planned {
		for _, key := range slices.Sorted(maps.Keys(apps)) {
			w.Apps = append(w.Apps, *apps[key])
		}
		if len(w.InstanceTypes) == 0 {
			w.InstanceTypes = slices.Sorted(maps.Keys(types))
		}
	}
	return nil
}

func (s *Scenario) addWorkloads(w *Workload) error {
	seen := map[string]bool{}
	for i, sw := range s.Spec.Workloads {
		field := fmt.Sprintf("spec.workloads[%d]", i)
		r, err := requests(field, sw.CPU, sw.Memory, sw.GPU)
		if err != nil {
			return err
		}
		if sw.Name == "" {
			return fmt.Errorf("%s.name is missing", field)
		}
		if sw.Replicas < 0 {
			return fmt.Errorf("%s.replicas must not be negative", field)
		}
		ns := namespaceOr(sw.Namespace)
		if seen[ns+"/"+sw.Name] {
			return fmt.Errorf("%s: workload %s/%s is listed twice", field, ns, sw.Name)
		}
		seen[ns+"/"+sw.Name] = true
		kind := sw.Kind
		if kind == "" {
			kind = "Deployment"
		}
		w.Apps = append(w.Apps, App{Namespace: ns, Name: sw.Name, Kind: kind, Labels: sw.Labels, Annotations: sw.Annotations,
			Replicas: sw.Replicas, Requests: r})
	}
	return nil
}

package cost

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"time"
)

// HoursPerMonth is the length of the month every monthly figure uses (8760 / 12).
const HoursPerMonth = 730.0

// Idle names the attribution entry of node capacity no pod requested.
const Idle = "(idle)"

// Workload is what runs, or would run, on a cluster: the workloads (replicas and their
// requests) and, when known, the nodes they run on. A snapshot fills both; a scenario
// fills one of them. EstimateForPolicy plans nodes for Apps when there are any, and
// otherwise prices Nodes.
type Workload struct {
	// Name names the snapshot or scenario in reports.
	Name string `json:"name,omitempty"`
	// Cluster is the cluster the workload belongs to, when the source says.
	Cluster string `json:"cluster,omitempty"`
	// Region overrides the policy's region when set.
	Region string `json:"region,omitempty"`
	// Date is the day the estimate is for: commitments that expired before it are
	// left out. The zero time counts every commitment.
	Date time.Time `json:"date,omitzero"`
	// Apps are the workloads whose replicas the policy splits between Spot and
	// On-Demand.
	Apps []App `json:"apps,omitempty"`
	// DaemonSets run one pod on every node.
	DaemonSets []App `json:"daemonSets,omitempty"`
	// Nodes are the nodes as they run, with their pods.
	Nodes []Node `json:"nodes,omitempty"`
	// InstanceTypes, when set, are the only instance types nodes are planned on (still
	// within the policy's supply).
	InstanceTypes []string `json:"instanceTypes,omitempty"`
	// Schedule scales the cluster down for part of the month.
	Schedule Schedule `json:"schedule,omitzero"`
}

// App is one workload (Deployment, StatefulSet, ...): identical replicas with the same
// requests.
type App struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Kind is Deployment, StatefulSet, DaemonSet, Job or Pod; informational.
	Kind string `json:"kind,omitempty"`
	// Labels are the workload's labels, matched by rules' workload selectors.
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations may carry Ballast's distribution overrides.
	Annotations map[string]string `json:"annotations,omitempty"`
	// Replicas is the number of pods.
	Replicas int `json:"replicas"`
	// Requests are the requests of one replica.
	Requests Resources `json:"requests"`
	// Accelerator names an accelerator resource other than nvidia.com/gpu that the
	// replicas request (amd.com/gpu, aws.amazon.com/neuron, ...). The estimate does not
	// model those: EstimateForPolicy leaves such a workload out, with a note.
	Accelerator string `json:"accelerator,omitempty"`
}

// GPUResource is the extended resource Resources.GPU counts: NVIDIA GPUs, as the
// NVIDIA device plugin advertises them.
const GPUResource = "nvidia.com/gpu"

// Resources are CPU, memory and GPUs, in integers so that packing is exact.
type Resources struct {
	// MilliCPU is CPU in thousandths of a vCPU.
	MilliCPU int64 `json:"milliCPU"`
	// Memory is memory in bytes.
	Memory int64 `json:"memory"`
	// GPU is the number of NVIDIA GPUs (GPUResource).
	GPU int64 `json:"gpu,omitempty"`
}

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{MilliCPU: r.MilliCPU + o.MilliCPU, Memory: r.Memory + o.Memory, GPU: r.GPU + o.GPU}
}

// Sub returns r - o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{MilliCPU: r.MilliCPU - o.MilliCPU, Memory: r.Memory - o.Memory, GPU: r.GPU - o.GPU}
}

// Fits reports whether r fits in capacity.
func (r Resources) Fits(capacity Resources) bool {
	return r.MilliCPU <= capacity.MilliCPU && r.Memory <= capacity.Memory && r.GPU <= capacity.GPU
}

// Times returns r scaled by n.
func (r Resources) Times(n int) Resources {
	return Resources{MilliCPU: r.MilliCPU * int64(n), Memory: r.Memory * int64(n), GPU: r.GPU * int64(n)}
}

// String formats r for people, e.g. 500m CPU / 1024Mi memory / 1 GPU.
func (r Resources) String() string {
	s := fmt.Sprintf("%dm CPU / %dMi memory", r.MilliCPU, r.Memory>>20)
	if r.GPU != 0 {
		s += fmt.Sprintf(" / %d GPU", r.GPU)
	}
	return s
}

// Node is one node as it runs.
type Node struct {
	Name         string `json:"name"`
	InstanceType string `json:"instanceType"`
	// CapacityType is OnDemand or Spot; empty in a scenario that lets the policy
	// decide (Estimate prices it On-Demand).
	CapacityType string `json:"capacityType,omitempty"`
	// Zone is the availability zone, when known; zonal Reserved Instances need it.
	Zone string `json:"zone,omitempty"`
	// Allocatable is what pods may request on the node; zero CPU or memory means the
	// instance type's allocatable as Karpenter computes it, GPUs included.
	Allocatable Resources `json:"allocatable,omitzero"`
	// Pods are the pods bound to the node.
	Pods []Pod `json:"pods,omitempty"`
}

// Pod is one pod on a node, named by its workload.
type Pod struct {
	Namespace string    `json:"namespace"`
	Workload  string    `json:"workload"`
	Requests  Resources `json:"requests"`
	// DaemonSet pods run on every node; they do not count as replicas.
	DaemonSet bool `json:"daemonSet,omitempty"`
}

// Schedule is a scheduled scale-down, e.g. a non-production cluster turned down at
// night and at the weekend.
type Schedule struct {
	// IdleFraction is the share of the month (0 to 1) the cluster is scaled down.
	IdleFraction float64 `json:"idleFraction,omitempty"`
	// MinNodes is how many nodes keep running while it is: On-Demand nodes first
	// (they hold the base On-Demand replicas, which stay), then Spot nodes, each in
	// node order.
	MinNodes int `json:"minNodes,omitempty"`
}

func (s Schedule) validate() error {
	if s.IdleFraction < 0 || s.IdleFraction > 1 {
		return fmt.Errorf("idle fraction %v is not between 0 and 1", s.IdleFraction)
	}
	if s.MinNodes < 0 {
		return fmt.Errorf("minimum nodes %d is negative", s.MinNodes)
	}
	return nil
}

// LoadWorkload reads a scenario file (apiVersion estimate.ballast.dev/v1alpha1, kind
// Scenario) or a snapshot of nodes and pods (`kubectl get nodes,pods -A -o yaml`, a v1
// List; Deployments and StatefulSets in it give their workloads' labels, annotations
// and replica counts).
// A snapshot is read as a stream (see ReadSnapshot).
func LoadWorkload(path string) (*Workload, error) {
	f, err := os.Open(path) //nolint:gosec // the user names the file to read
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", path, err)
	}
	defer func() { _ = f.Close() }()
	br := bufio.NewReaderSize(f, sniffLimit)
	head, _ := br.Peek(sniffLimit)
	var w *Workload
	if scenario, known := scenarioHead(head, len(head) < sniffLimit); known && !scenario {
		w, err = ReadSnapshot(br)
	} else {
		data, rerr := io.ReadAll(br)
		if rerr != nil {
			return nil, fmt.Errorf("failed to read %s: %w", path, rerr)
		}
		w, err = ParseWorkload(data)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if w.Name == "" {
		w.Name = path
	}
	return w, nil
}

// ParseWorkload reads a scenario or a snapshot; see LoadWorkload.
func ParseWorkload(data []byte) (*Workload, error) {
	if isScenario(data) {
		s, err := ParseScenario(data)
		if err != nil {
			return nil, err
		}
		return s.Workload()
	}
	return ParseSnapshot(data)
}

package cost

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// referenceSnapshot reads a snapshot the plain way: every object decoded whole into
// its Kubernetes type, then FromCluster. ReadSnapshot must give exactly what it gives.
func referenceSnapshot(data []byte) (*Workload, error) {
	var c Cluster
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var add func(raw json.RawMessage) error
	add = func(raw json.RawMessage) error {
		var head struct {
			Kind  string            `json:"kind"`
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return err
		}
		for _, item := range head.Items {
			if err := add(item); err != nil {
				return err
			}
		}
		var err error
		switch head.Kind {
		case "Node":
			err = appendDecoded(raw, &c.Nodes)
		case "Pod":
			err = appendDecoded(raw, &c.Pods)
		case "ReplicaSet":
			err = appendDecoded(raw, &c.ReplicaSets)
		case "Deployment":
			err = appendDecoded(raw, &c.Deployments)
		case "StatefulSet":
			err = appendDecoded(raw, &c.StatefulSets)
		}
		return err
	}
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		if err := add(raw); err != nil {
			return nil, err
		}
	}
	if len(c.Nodes) == 0 && len(c.Pods) == 0 {
		return nil, errors.New("no nodes and no pods")
	}
	return FromCluster(c)
}

func appendDecoded[T corev1.Node | corev1.Pod | appsv1.ReplicaSet | appsv1.Deployment | appsv1.StatefulSet](raw json.RawMessage, list *[]T) error {
	var o T
	if err := json.Unmarshal(raw, &o); err != nil {
		return err
	}
	*list = append(*list, o)
	return nil
}

func sameWorkload(t *testing.T, what string, got, want *Workload) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("%s: ReadSnapshot gives\n%s\nthe objects decoded whole give\n%s", what, g, w)
	}
}

// TestReadGeneratedSnapshot: a snapshot as kubectl prints it, YAML and JSON, gives the
// workload its objects decoded whole give, and YAML and JSON give the same.
func TestReadGeneratedSnapshot(t *testing.T) {
	var workloads []*Workload
	for _, format := range []string{"yaml", "json"} {
		var buf bytes.Buffer
		if err := writeSnapshot(&buf, 40, format); err != nil {
			t.Fatal(err)
		}
		got, err := ReadSnapshot(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		want, err := referenceSnapshot(buf.Bytes())
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		sameWorkload(t, format, got, want)
		pods := 0
		for _, n := range got.Nodes {
			pods += len(n.Pods)
		}
		// 10 pods a node, less the completed Jobs (1 app slot in 25) and the pending
		// replicas (1 in 50).
		if len(got.Nodes) != 40 || pods != 400-11-6 || len(got.DaemonSets) != 3 {
			t.Errorf("%s: %d nodes, %d pods on them, %d DaemonSets", format, len(got.Nodes), pods, len(got.DaemonSets))
		}
		workloads = append(workloads, got)
	}
	sameWorkload(t, "JSON against YAML", workloads[1], workloads[0])
}

const yamlNode = "- apiVersion: v1\n  kind: Node\n  metadata:\n    name: n1\n    labels: {node.kubernetes.io/instance-type: m6i.large, topology.kubernetes.io/region: eu-west-1}\n  status:\n    allocatable: {cpu: 1930m, memory: 7Gi}\n"

// yamlCases are snapshots in YAML that a line filter could misread.
var yamlCases = map[string]string{
	"block scalars hold key-like lines": `apiVersion: v1
kind: List
items:
` + yamlNode + `- apiVersion: v1
  kind: Pod
  metadata:
    annotations:
      ballast.dev/on-demand-percent: "30"
      kubectl.kubernetes.io/last-applied-configuration: |
        spec:
          containers:
          - resources: {requests: {cpu: 9}}
        status:
          phase: Failed
      note: >-
        nodeName: elsewhere
    name: web-1
    namespace: shop
  spec:
    nodeName: n1
    containers:
    - name: web
      command:
      - sh
      - -c
      - |
        resources:
          requests: {cpu: 50}
      resources:
        requests:
          cpu: 250m
          memory: 512Mi
  status:
    phase: Running
`,
	"quoted keys, flow collections over lines, tabs": `apiVersion: v1
kind: Pod
"metadata":
  name: web-1
  'namespace': shop
  labels: {"app": web,
    tier: front}
  annotations:
    "ballast.dev/base-on-demand": "1"
spec:
  nodeName:	n1
  containers: [{name: web, resources: {requests: {cpu: 100m,
      memory: 128Mi}}}]
status: {phase: Running}
---
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {node.kubernetes.io/instance-type: m6i.large}}
status:
  allocatable:
    cpu: "2"
`,
	"anchors in dropped fields, merge keys": `apiVersion: v1
kind: Pod
metadata:
  name: web-1
  namespace: shop
  labels: &labels
    app: web
spec:
  env: &small
    requests: {cpu: 100m, memory: 64Mi}
  containers:
  - name: web
    resources: *small
  - name: side
    resources:
      <<: *small
      limits: {nvidia.com/gpu: 1}
status:
  phase: Pending
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels:
    <<: &common {app: web}
    tier: front
  annotations:
    <<: *common
spec:
  replicas: 4
  template:
    spec:
      containers:
      - resources: {requests: {cpu: 1}}
`,
	"comments, blank lines, CRLF, indented sequences": "# a snapshot\r\napiVersion: v1\r\nkind: List # of things\r\nitems:\r\n  # the node\r\n  - apiVersion: v1\r\n    kind: Node\r\n\r\n    metadata:\r\n      name: n1 # first\r\n      labels:\r\n        node.kubernetes.io/instance-type: c6i.large\r\n    status:\r\n      images:\r\n        - names: [a]\r\n      allocatable:\r\n        cpu: 1930m\r\n  -\r\n    apiVersion: v1\r\n    kind: Pod\r\n    metadata: {name: p, namespace: ns}\r\n    spec:\r\n      nodeName: n1\r\n      initContainers:\r\n        -\r\n          name: init\r\n          resources: {requests: {cpu: \"1\"}}\r\n        - restartPolicy: Always\r\n          resources: {requests: {cpu: 200m}}\r\n      containers:\r\n        - resources:\r\n            requests: {cpu: 300m}\r\n",
	"flow mappings that look like JSON": `{kind: Node, metadata: {name: n1, labels: {node.kubernetes.io/instance-type: m6i.large}}}
---
{"kind": "Pod", "metadata": {"name": "p", "namespace": "ns"}, "spec": {"nodeName": "n1", "containers": [{"resources": {"requests": {"cpu": "1"}}}]}}
---
kind: ConfigMap
spec: not what a Pod has
`,
	"multi-line plain scalars, documents, nested lists": `---
apiVersion: v1
kind: List
items:
` + yamlNode + `- apiVersion: v1
  kind: PodList
  items:
  - apiVersion: v1
    kind: Pod
    metadata:
      name: a
      namespace: ns
      ownerReferences:
      - {apiVersion: apps/v1, kind: DaemonSet, name: agent, controller: true}
    spec:
      description: a long text
        over two lines
      nodeName: n1
      containers:
      - resources: {requests: {cpu: 10m}}
...
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: ns}
spec: {containers: [{resources: {limits: {cpu: "1"}}}]}
status: {phase: Succeeded}
`,
}

// TestReadSnapshotYAML: whatever YAML the filter meets, it reads what a YAML parser
// reads: block scalars holding lines that look like keys, quoted keys, flow
// collections over several lines, anchors and merge keys, comments, CRLF, indented
// and compact sequences, several documents and nested lists.
func TestReadSnapshotYAML(t *testing.T) {
	for name, doc := range yamlCases {
		t.Run(name, func(t *testing.T) {
			want, err := referenceSnapshot([]byte(doc))
			if err != nil {
				t.Fatalf("the test's YAML: %v", err)
			}
			got, err := ReadSnapshot(strings.NewReader(doc))
			if err != nil {
				t.Fatal(err)
			}
			sameWorkload(t, name, got, want)
		})
	}
}

// TestReadSnapshotErrors: what is wrong is named by kind and field, in any format.
func TestReadSnapshotErrors(t *testing.T) {
	for _, tc := range []struct{ name, data, err string }{
		{"YAML list with a bad pod", "kind: List\nitems:\n- kind: Pod\n  spec: {containers: 3}\n", "invalid Pod in snapshot: spec.containers: a number is not what Kubernetes writes there (object 1, which ends at line 4)"},
		{"JSON list with a bad node", `{"items": [{"kind": "Node", "status": {"allocatable": {"cpu": "lots"}}}], "kind": "List"}`, "invalid Node in snapshot: "},
		{"JSON cut short", `{"items": [{"kind": "Node"`, "invalid snapshot: unexpected EOF"},
		{"JSON items not a list", `{"kind": "List", "items": 3}`, "invalid snapshot: items is not a list but 3"},
		{"JSON pod with a bad spec", `{"spec": "x", "kind": "Pod"}`, "invalid Pod in snapshot: spec: a string is not"},
		{"JSON ConfigMap with anything", `{"spec": "x", "kind": "ConfigMap"} {"kind": "Node", "metadata": {"labels": {"node.kubernetes.io/instance-type": "m6i.large"}}}`, ""},
		{"YAML syntax", "kind: Pod\nmetadata: {name: [}\n", "invalid snapshot: "},
		{"nothing", "kind: List\nitems: []\n", "no nodes and no pods"},
		{"YAML scalar", `"text"`, "invalid snapshot: a string is not an object (object 1, which ends at line 1)"},
		{"second object", "kind: Node\nmetadata: {name: a, labels: {node.kubernetes.io/instance-type: m6i.large}}\n---\nkind: Pod\nspec: 1\n---\nkind: Pod\n", "(object 2, which ends at line 5)"},
		{"JSON array of numbers", `[1]`, "invalid snapshot: a number is not an object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadSnapshot(strings.NewReader(tc.data))
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
		})
	}
}

// BenchmarkReadSnapshot reads a generated snapshot of a 2,000-node cluster (20,000
// pods; see writeSnapshot) from a file, as `ballast estimate --snapshot` does, in
// YAML (about 120 MB) and JSON: MB/s is the figure to watch.
func BenchmarkReadSnapshot(b *testing.B) {
	for _, format := range []string{"yaml", "json"} {
		b.Run(fmt.Sprintf("nodes=2000/%s", format), func(b *testing.B) {
			file := filepath.Join(benchDir(b, "snapshots"), fmt.Sprintf("nodes-2000.%s", format))
			f, err := os.Create(file)
			if err != nil {
				b.Fatal(err)
			}
			if err := writeSnapshot(f, 2000, format); err != nil {
				b.Fatal(err)
			}
			size, err := f.Seek(0, io.SeekCurrent)
			if err != nil || f.Close() != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				f, err := os.Open(file)
				if err != nil {
					b.Fatal(err)
				}
				w, err := ReadSnapshot(f)
				_ = f.Close()
				if err != nil {
					b.Fatal(err)
				}
				if len(w.Nodes) != 2000 {
					b.Fatalf("%d nodes", len(w.Nodes))
				}
			}
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N)/1e6, "cpu-ms/op")
		})
	}
}

// cpuTime is the CPU time (user and system, all threads) the process has used.
// Benchmarks report it per operation besides wall time, which on a shared machine
// says as much about the other loads as about the code.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchDir is where a benchmark writes what it generates: a temporary directory, or
// $BALLAST_BENCH_DIR/elems..., kept for measuring the ballast command on the same
// input (see docs/performance.md).
func benchDir(b *testing.B, elems ...string) string {
	root := os.Getenv("BALLAST_BENCH_DIR")
	if root == "" {
		return b.TempDir()
	}
	dir := filepath.Join(append([]string{root}, elems...)...)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	return dir
}

// TestScenarioHead: a scenario is told from a snapshot by the apiVersion of the first
// document, read from the start of the file when it can be, so that a snapshot is
// never parsed whole just to find it.
func TestScenarioHead(t *testing.T) {
	for _, tc := range []struct {
		name, head      string
		complete        bool
		scenario, known bool
	}{
		{"kubectl YAML", "apiVersion: v1\nitems:\n- apiVersion: estimate.ballast.dev/v1alpha1\n", false, false, true},
		{"kubectl JSON", "{\n    \"apiVersion\": \"v1\",\n    \"items\": [\n", false, false, true},
		{"scenario after comments", "# prices\n---\nkind: Scenario\nmetadata:\n  apiVersion: v1\napiVersion: \"estimate.ballast.dev/v1alpha1\" # the group\n", true, true, true},
		{"JSON scenario", `{"kind": "Scenario", "metadata": {"name": "x"}, "apiVersion": "estimate.ballast.dev/v1alpha1"}`, true, true, true},
		{"no apiVersion in the first document", "kind: Pod\n---\napiVersion: estimate.ballast.dev/v1alpha1\n", true, false, true},
		{"flow style", "{apiVersion: estimate.ballast.dev/v1alpha1, kind: Scenario}\n", true, false, false},
		{"cut short", "kind: Scenario\nmetadata:\n  name: x\n", false, false, false},
		{"cut mid-line", "kind: Scenario\napiVers", false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scenario, known := scenarioHead([]byte(tc.head), tc.complete)
			if scenario != tc.scenario || known != tc.known {
				t.Errorf("scenarioHead = %v, %v, want %v, %v", scenario, known, tc.scenario, tc.known)
			}
		})
	}
}

// TestLoadWorkloadStreams: LoadWorkload reads a snapshot larger than what it sniffs as
// ReadSnapshot does, and still finds a scenario whose apiVersion comes late.
func TestLoadWorkloadStreams(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	if err := writeSnapshot(&buf, 20, "yaml"); err != nil {
		t.Fatal(err)
	}
	if buf.Len() <= sniffLimit {
		t.Fatalf("the snapshot (%d bytes) must be larger than sniffLimit", buf.Len())
	}
	file := filepath.Join(dir, "snapshot.yaml")
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadWorkload(file)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ReadSnapshot(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	want.Name = file
	sameWorkload(t, "LoadWorkload", got, want)

	scenario := "# " + strings.Repeat("x", sniffLimit) + "\nkind: Scenario\nmetadata: {name: late}\n" +
		"apiVersion: estimate.ballast.dev/v1alpha1\nspec:\n  nodes: [{count: 2, instanceType: m6i.large}]\n"
	file = filepath.Join(dir, "scenario.yaml")
	if err := os.WriteFile(file, []byte(scenario), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := LoadWorkload(file)
	if err != nil || len(w.Nodes) != 2 {
		t.Fatalf("LoadWorkload(scenario) = %+v, %v", w, err)
	}
}

// FuzzReadSnapshotYAML: whatever the YAML, when the objects decoded whole give a
// workload and ReadSnapshot gives one, it is the same (`go test -fuzz
// FuzzReadSnapshotYAML ./cost` looks for YAML the filter misreads).
func FuzzReadSnapshotYAML(f *testing.F) {
	for _, doc := range yamlCases {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		if isJSON(bufio.NewReader(strings.NewReader(doc))) {
			return // read by the JSON decoder, not the filter
		}
		want, err := referenceSnapshot([]byte(doc))
		if err != nil {
			return
		}
		got, err := ReadSnapshot(strings.NewReader(doc))
		if err != nil {
			// Refusing YAML that a lenient parser reads in its own way (duplicate
			// keys, content after a document's end, ...) is no wrong figure; the
			// tests above hold ReadSnapshot to reading real snapshots.
			return
		}
		sameWorkload(t, "fuzz", got, want)
	})
}

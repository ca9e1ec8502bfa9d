package cost

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// A generated snapshot is what `kubectl get nodes,pods -A -o yaml` (or -o json)
// prints for an EKS cluster run by Karpenter: nodes with their full status (images,
// conditions, addresses), and pods as the API server returns them (probes, env,
// volumes, tolerations, container statuses), managedFields left out as kubectl does.
// Each node runs daemonPods DaemonSet pods and appPods replicas of Deployments spread
// over 40 namespaces; one app slot in 25 holds a completed Job pod instead and one in
// 50 a pending replica, so that every path of the reader is taken.
const (
	genDaemonPods = 3
	genAppPods    = 7
	genNamespaces = 40
	genApps       = 400
	// genAppTemplates are the distinct requests of the apps; app a has those of
	// template a % genAppTemplates.
	genAppTemplates = 40
)

var genInstanceTypes = []struct {
	name        string
	cpu, memory string
}{
	{"m6i.2xlarge", "7910m", "29317Mi"},
	{"c6i.2xlarge", "7910m", "13981Mi"},
	{"r6i.xlarge", "3920m", "29683Mi"},
	{"m7g.2xlarge", "7910m", "29317Mi"},
}

var genZones = []string{"eu-central-1a", "eu-central-1b", "eu-central-1c"}

// writeSnapshot writes a generated snapshot of nodes nodes (and 10 pods per node) to w,
// as YAML or JSON, the way kubectl prints a List.
func writeSnapshot(w io.Writer, nodes int, format string) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	g, err := newSnapshotGen(format)
	if err != nil {
		return err
	}
	// Write errors stick to bw; Flush reports them.
	write := func(s string) { _, _ = bw.WriteString(s) }
	if format == "json" {
		write("{\n    \"apiVersion\": \"v1\",\n    \"items\": [\n")
	} else {
		write("apiVersion: v1\nitems:\n")
	}
	first := true
	item := func(s string) {
		if format == "json" && !first {
			write(",\n")
		}
		first = false
		write(s)
	}
	for i := range nodes {
		item(g.node(i))
	}
	for i := range nodes {
		for j := range genDaemonPods {
			item(g.daemonPod(i, j))
		}
		for j := range genAppPods {
			item(g.appPod(i, j))
		}
	}
	if format == "json" {
		write("\n    ],\n    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n")
	} else {
		write("kind: List\nmetadata:\n  resourceVersion: \"\"\n")
	}
	return bw.Flush()
}

// snapshotGen renders each kind of object once, with placeholders, and fills them in
// for every copy, so that generating 100 MB takes a second.
type snapshotGen struct {
	format string
	// nodes are by instance type, capacity (0 On-Demand, 1 Spot) and zone.
	nodes   map[[3]int]string
	daemons []string
	// apps are by app index; jobs and pending are one template each.
	apps         []string
	job, pending string
}

func newSnapshotGen(format string) (*snapshotGen, error) {
	g := &snapshotGen{format: format, nodes: map[[3]int]string{}}
	var err error
	for t := range genInstanceTypes {
		for c := range 2 {
			for z := range genZones {
				if g.nodes[[3]int{t, c, z}], err = g.render(genNode(t, c, z)); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, name := range []string{"aws-node", "kube-proxy", "ebs-csi-node"} {
		s, err := g.render(genDaemonPod(name))
		if err != nil {
			return nil, err
		}
		g.daemons = append(g.daemons, s)
	}
	for a := range genAppTemplates {
		s, err := g.render(genAppPod(a, corev1.PodRunning))
		if err != nil {
			return nil, err
		}
		g.apps = append(g.apps, s)
	}
	if g.pending, err = g.render(genAppPod(7, corev1.PodPending)); err != nil {
		return nil, err
	}
	g.pending = strings.ReplaceAll(g.pending, "APPN", "007")
	if err != nil {
		return nil, err
	}
	if g.job, err = g.render(genJobPod()); err != nil {
		return nil, err
	}
	return g, nil
}

// render prints obj as an item of a kubectl List.
func (g *snapshotGen) render(obj any) (string, error) {
	if g.format == "json" {
		data, err := json.MarshalIndent(obj, "        ", "    ")
		return "        " + string(data), err
	}
	data, err := yaml.Marshal(obj)
	if err != nil {
		return "", err
	}
	lines := strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n")
	var b strings.Builder
	for i, l := range lines {
		if i == 0 {
			b.WriteString("- ")
		} else {
			b.WriteString("  ")
		}
		b.WriteString(l)
	}
	b.WriteString("\n")
	return b.String(), nil
}

func (g *snapshotGen) node(i int) string {
	t, c, z := i%len(genInstanceTypes), 0, i%len(genZones)
	if i%3 == 0 {
		c = 1
	}
	return fill(g.nodes[[3]int{t, c, z}], i, 0)
}

func (g *snapshotGen) daemonPod(node, j int) string {
	return fill(g.daemons[j], node, node*genDaemonPods+j)
}

func (g *snapshotGen) appPod(node, j int) string {
	slot := node*genAppPods + j
	switch {
	case slot%25 == 24:
		return fill(g.job, node, slot)
	case slot%50 == 12:
		return strings.ReplaceAll(fill(g.pending, node, slot), "NSN", "07")
	}
	a := slot % genApps
	return strings.ReplaceAll(strings.ReplaceAll(fill(g.apps[a%genAppTemplates], node, slot), "APPN", fmt.Sprintf("%03d", a)),
		"NSN", fmt.Sprintf("%02d", a%genNamespaces))
}

// fill replaces the placeholders of a template: the node's number (NODEN), the pod's
// (PODN) and uids derived from them.
func fill(tmpl string, node, pod int) string {
	return strings.NewReplacer(
		"NODEN", fmt.Sprintf("%d-%d", node/250, node%250),
		"PODN", fmt.Sprintf("%05x", pod),
		"UIDN", fmt.Sprintf("%08x-%04x", node, pod%0x10000),
	).Replace(tmpl)
}

var genTime = metav1.NewTime(time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC))

func quantities(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

func genNode(t, c, z int) *corev1.Node {
	it := genInstanceTypes[t]
	capacity, arch := "on-demand", "amd64"
	if c == 1 {
		capacity = "spot"
	}
	if strings.HasPrefix(it.name, "m7g") {
		arch = "arm64"
	}
	host := "ip-10-NODEN.eu-central-1.compute.internal"
	n := &corev1.Node{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
		ObjectMeta: metav1.ObjectMeta{
			Name: host, UID: types.UID("4a1c-node-UIDN"), ResourceVersion: "73310042", CreationTimestamp: genTime,
			Annotations: map[string]string{
				"alpha.kubernetes.io/provided-node-ip":                   "10.NODEN",
				"karpenter.k8s.aws/ec2nodeclass-hash":                    "6821555240594823858",
				"karpenter.k8s.aws/ec2nodeclass-hash-version":            "v4",
				"karpenter.sh/nodepool-hash":                             "12028663807258658692",
				"karpenter.sh/nodepool-hash-version":                     "v3",
				"node.alpha.kubernetes.io/ttl":                           "0",
				"volumes.kubernetes.io/controller-managed-attach-detach": "true",
			},
			Labels: map[string]string{
				"beta.kubernetes.io/arch": arch, "beta.kubernetes.io/instance-type": it.name, "beta.kubernetes.io/os": "linux",
				"failure-domain.beta.kubernetes.io/region": "eu-central-1", "failure-domain.beta.kubernetes.io/zone": genZones[z],
				"k8s.io/cloud-provider-aws":           "a94967527effcefb5f5829f529c0a1b9",
				"karpenter.k8s.aws/ec2nodeclass":      "ballast-prod-eu",
				"karpenter.k8s.aws/instance-category": it.name[:1], "karpenter.k8s.aws/instance-cpu": "8",
				"karpenter.k8s.aws/instance-family": strings.Split(it.name, ".")[0], "karpenter.k8s.aws/instance-generation": it.name[1:2],
				"karpenter.k8s.aws/instance-hypervisor": "nitro", "karpenter.k8s.aws/instance-memory": "32768",
				"karpenter.k8s.aws/instance-size": strings.Split(it.name, ".")[1],
				"karpenter.sh/capacity-type":      capacity, "karpenter.sh/initialized": "true", "karpenter.sh/nodepool": "ballast-prod-eu-" + capacity,
				"karpenter.sh/registered": "true", "kubernetes.io/arch": arch, "kubernetes.io/hostname": host, "kubernetes.io/os": "linux",
				"node.kubernetes.io/instance-type": it.name, "topology.k8s.aws/zone-id": "euc1-az" + fmt.Sprint(z+1),
				"topology.kubernetes.io/region": "eu-central-1", "topology.kubernetes.io/zone": genZones[z],
			},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "karpenter.sh/v1", Kind: "NodeClaim", Name: "ballast-prod-eu-" + capacity + "-NODEN",
				UID: types.UID("0c3e-claim-UIDN"), BlockOwnerDeletion: ptr.To(true)}},
			Finalizers: []string{"karpenter.sh/termination"},
		},
		Spec: corev1.NodeSpec{ProviderID: "aws:///" + genZones[z] + "/i-0f3aNODEN"},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.NODEN"}, {Type: corev1.NodeInternalDNS, Address: host},
				{Type: corev1.NodeHostName, Address: host}},
			Allocatable:     quantities("cpu", it.cpu, "ephemeral-storage", "95551679124", "hugepages-1Gi", "0", "hugepages-2Mi", "0", "memory", it.memory, "pods", "58"),
			Capacity:        quantities("cpu", "8", "ephemeral-storage", "104845292Ki", "hugepages-1Gi", "0", "hugepages-2Mi", "0", "memory", "32329356Ki", "pods", "58"),
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
			NodeInfo: corev1.NodeSystemInfo{Architecture: arch, BootID: "5e7f-boot-UIDN", ContainerRuntimeVersion: "containerd://1.7.27",
				KernelVersion: "6.1.134-152.225.amzn2023.x86_64", KubeletVersion: "v1.33.1-eks-b9b6b7f",
				MachineID: "ec2b-machine-UIDN", OperatingSystem: "linux", OSImage: "Amazon Linux 2023.7.20250527", SystemUUID: "ec2b-uuid-UIDN"},
		},
	}
	if c == 1 {
		n.Spec.Taints = []corev1.Taint{{Key: "ballast.dev/capacity", Value: "spot", Effect: corev1.TaintEffectNoSchedule}}
	}
	for _, ct := range []struct {
		t      corev1.NodeConditionType
		s      corev1.ConditionStatus
		reason string
		msg    string
	}{
		{corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"},
		{corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"},
		{corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"},
		{corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"},
	} {
		n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: ct.t, Status: ct.s, Reason: ct.reason, Message: ct.msg,
			LastHeartbeatTime: genTime, LastTransitionTime: genTime})
	}
	for i := range 24 {
		repo := fmt.Sprintf("602401143452.dkr.ecr.eu-central-1.amazonaws.com/eks/component-%d", i)
		n.Status.Images = append(n.Status.Images, corev1.ContainerImage{
			Names:     []string{repo + "@sha256:9f2c4e8a1b7d3f6e0c5a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f", repo + ":v1.19.5-eksbuild.1"},
			SizeBytes: int64(20_000_000 + i*1_234_567),
		})
	}
	return n
}

func genPodMeta(ns, name, generateName string, labels map[string]string, owner metav1.OwnerReference) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: name, GenerateName: generateName, Namespace: ns, UID: types.UID("7b2d-pod-UIDN"), ResourceVersion: "73310977",
		CreationTimestamp: genTime, Labels: labels, OwnerReferences: []metav1.OwnerReference{owner},
	}
}

func genContainer(name, image, cpu, memory string, port int32) corev1.Container {
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(port), Scheme: corev1.URISchemeHTTP}},
		InitialDelaySeconds: 5, TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
	return corev1.Container{
		Name: name, Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
		Env: []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}, {Name: "PORT", Value: fmt.Sprint(port)},
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
			{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}},
			{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Value: "http://otel-collector.observability.svc.cluster.local:4317"}},
		Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: port, Protocol: corev1.ProtocolTCP}},
		Resources:      corev1.ResourceRequirements{Requests: quantities("cpu", cpu, "memory", memory), Limits: quantities("memory", memory)},
		LivenessProbe:  probe,
		ReadinessProbe: probe,
		SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
			RunAsNonRoot: ptr.To(true), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
		TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/app", ReadOnly: true},
			{Name: "kube-api-access-UIDN", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}},
	}
}

func genPodSpec(containers ...corev1.Container) corev1.PodSpec {
	return corev1.PodSpec{
		Containers: containers, DNSPolicy: corev1.DNSClusterFirst, EnableServiceLinks: ptr.To(true), NodeName: "ip-10-NODEN.eu-central-1.compute.internal",
		PreemptionPolicy: ptr.To(corev1.PreemptLowerPriority), Priority: ptr.To(int32(0)), RestartPolicy: corev1.RestartPolicyAlways,
		SchedulerName: "default-scheduler", SecurityContext: &corev1.PodSecurityContext{FSGroup: ptr.To(int64(2000))},
		ServiceAccountName: "default", DeprecatedServiceAccount: "default", TerminationGracePeriodSeconds: ptr.To(int64(30)),
		Tolerations: []corev1.Toleration{
			{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To(int64(300))},
			{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To(int64(300))}},
		Volumes: []corev1.Volume{
			{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "app-config"}, DefaultMode: ptr.To(int32(420))}}},
			{Name: "kube-api-access-UIDN", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{DefaultMode: ptr.To(int32(420)), Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To(int64(3607))}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
			}}}},
		},
	}
}

func genPodStatus(phase corev1.PodPhase, containers []corev1.Container) corev1.PodStatus {
	s := corev1.PodStatus{Phase: phase, QOSClass: corev1.PodQOSBurstable, StartTime: &genTime}
	if phase == corev1.PodPending {
		s.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, LastTransitionTime: genTime, Reason: "Unschedulable",
			Message: "0/2000 nodes are available: 2000 Insufficient cpu. preemption: 0/2000 nodes are available: 2000 No preemption victims found for incoming pod."}}
		s.StartTime = nil
		return s
	}
	s.HostIP, s.PodIP = "10.NODEN", "10.NODEN"
	s.HostIPs, s.PodIPs = []corev1.HostIP{{IP: "10.NODEN"}}, []corev1.PodIP{{IP: "10.NODEN"}}
	for _, t := range []corev1.PodConditionType{"PodReadyToStartContainers", corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled} {
		s.Conditions = append(s.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: genTime})
	}
	for _, c := range containers {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image + "@sha256:0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e",
			ContainerID: "containerd://3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a", Ready: true, Started: ptr.To(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: genTime}}}
		if phase == corev1.PodSucceeded {
			cs.Ready, cs.Started = false, ptr.To(false)
			cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: genTime, FinishedAt: genTime,
				ContainerID: cs.ContainerID}}
		}
		s.ContainerStatuses = append(s.ContainerStatuses, cs)
	}
	return s
}

func genDaemonPod(name string) *corev1.Pod {
	labels := map[string]string{"app.kubernetes.io/name": name, "controller-revision-hash": "6d5b9c8f7", "k8s-app": name, "pod-template-generation": "3"}
	c := genContainer(name, "602401143452.dkr.ecr.eu-central-1.amazonaws.com/eks/"+name+":v1.19.5-eksbuild.1", "25m", "64Mi", 61678)
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: genPodMeta("kube-system", name+"-PODN", name+"-", labels, metav1.OwnerReference{APIVersion: "apps/v1", Kind: "DaemonSet", Name: name, UID: "1d5e-ds", Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}),
		Spec:       genPodSpec(c),
	}
	p.Spec.PriorityClassName, p.Spec.Priority = "system-node-critical", ptr.To(int32(2000001000))
	p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Operator: corev1.TolerationOpExists})
	p.Status = genPodStatus(corev1.PodRunning, p.Spec.Containers)
	return p
}

// genAppPod is a replica of app APPN in namespace team-NSN, with the requests of
// template a.
func genAppPod(a int, phase corev1.PodPhase) *corev1.Pod {
	ns, name, hash := "team-NSN", "app-APPN", "7c9d5f8APPN"
	labels := map[string]string{"app": name, "app.kubernetes.io/name": name, "app.kubernetes.io/part-of": ns, "pod-template-hash": hash}
	cs := []corev1.Container{genContainer("app", "ghcr.io/example/"+name+":1.4.2", fmt.Sprintf("%dm", 100+(a%8)*50), fmt.Sprintf("%dMi", 256+(a%5)*256), 8080)}
	if a%2 == 0 {
		cs = append(cs, genContainer("envoy", "envoyproxy/envoy:v1.34.1", "50m", "128Mi", 15090))
	}
	p := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: genPodMeta(ns, name+"-"+hash+"-PODN", name+"-"+hash+"-", labels,
			metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: name + "-" + hash, UID: "2e6f-rs", Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}),
		Spec: genPodSpec(cs...),
	}
	p.Annotations = map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8080", "kubectl.kubernetes.io/restartedAt": "2026-05-01T10:00:00Z"}
	if a%10 == 3 {
		p.Annotations["ballast.dev/on-demand-percent"] = "50"
	}
	if a%3 == 0 {
		p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "ballast.dev/capacity", Operator: corev1.TolerationOpEqual, Value: "spot", Effect: corev1.TaintEffectNoSchedule})
		p.Spec.NodeSelector = map[string]string{"karpenter.sh/capacity-type": "spot"}
	}
	if phase == corev1.PodPending {
		p.Spec.NodeName = ""
	}
	p.Status = genPodStatus(phase, cs)
	return p
}

func genJobPod() *corev1.Pod {
	labels := map[string]string{"batch.kubernetes.io/controller-uid": "3f7a-job", "batch.kubernetes.io/job-name": "report-PODN", "job-name": "report-PODN"}
	c := genContainer("report", "ghcr.io/example/report:2.0.0", "1", "2Gi", 9090)
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: genPodMeta("batch", "report-PODN-x7k2p", "report-PODN-", labels, metav1.OwnerReference{APIVersion: "batch/v1", Kind: "Job", Name: "report-PODN", UID: "3f7a-job", Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}),
		Spec:       genPodSpec(c),
	}
	p.Spec.RestartPolicy = corev1.RestartPolicyNever
	p.Status = genPodStatus(corev1.PodSucceeded, p.Spec.Containers)
	return p
}

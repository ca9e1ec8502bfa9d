package app

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// The objects of BenchmarkControllerAtScale's cluster, with what real ones carry.

var scaleInstanceTypes = []struct {
	name, cpu, memory string
}{{"m5.xlarge", "4", "16Gi"}, {"m5.2xlarge", "8", "32Gi"}, {"c5.2xlarge", "8", "16Gi"}, {"r5.xlarge", "4", "32Gi"}}

// scaleNode is a node as Karpenter creates it and its kubelet reports it.
func scaleNode(name, capacity string, i int) *corev1.Node {
	it := scaleInstanceTypes[i%len(scaleInstanceTypes)]
	zone := []string{"us-east-1a", "us-east-1b", "us-east-1c"}[i%3]
	pool := "ballast-" + scaleCluster + "-" + capacity
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name,
			Labels: map[string]string{
				"karpenter.sh/nodepool": pool, "karpenter.sh/capacity-type": capacity, "karpenter.sh/registered": "true",
				"karpenter.sh/initialized": "true", v1alpha1.CapacityLabel: capacity, v1alpha1.ClusterLabel: scaleCluster,
				corev1.LabelInstanceTypeStable: it.name, corev1.LabelInstanceType: it.name, corev1.LabelTopologyZone: zone,
				corev1.LabelTopologyRegion: "us-east-1", corev1.LabelFailureDomainBetaZone: zone, corev1.LabelFailureDomainBetaRegion: "us-east-1",
				corev1.LabelArchStable: "amd64", corev1.LabelOSStable: "linux", "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
				corev1.LabelHostname: name, "karpenter.k8s.aws/instance-family": strings.Split(it.name, ".")[0],
				"karpenter.k8s.aws/instance-size": strings.Split(it.name, ".")[1], "karpenter.k8s.aws/instance-cpu": it.cpu,
				"karpenter.k8s.aws/instance-generation": "5", "karpenter.k8s.aws/instance-hypervisor": "nitro",
				"karpenter.k8s.aws/ec2nodeclass": "ballast-" + scaleCluster, "topology.k8s.aws/zone-id": "use1-az" + strconv.Itoa(i%3+1),
			},
			Annotations: map[string]string{
				"karpenter.sh/nodepool-hash": "8721561904338120334", "karpenter.sh/nodepool-hash-version": "v3",
				"karpenter.k8s.aws/ec2nodeclass-hash": "4530183960417463372", "karpenter.k8s.aws/ec2nodeclass-hash-version": "v4",
				"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true",
				"alpha.kubernetes.io/provided-node-ip": "10.0.0.1",
			},
			Finalizers: []string{"karpenter.sh/termination"},
		},
		Spec: corev1.NodeSpec{ProviderID: fmt.Sprintf("aws:///%s/i-%017x", zone, i)},
	}
	if capacity == v1alpha1.CapacitySpot {
		node.Spec.Taints = []corev1.Taint{{Key: v1alpha1.CapacityTaintKey, Value: v1alpha1.CapacitySpot, Effect: corev1.TaintEffectNoSchedule}}
	}
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(it.cpu), corev1.ResourceMemory: resource.MustParse(it.memory),
		corev1.ResourcePods: resource.MustParse("58"), corev1.ResourceEphemeralStorage: resource.MustParse("20Gi"),
		"hugepages-1Gi": resource.MustParse("0"), "hugepages-2Mi": resource.MustParse("0")}
	alloc := res.DeepCopy()
	alloc[corev1.ResourceCPU] = resource.MustParse(it.cpu + "000m")
	alloc[corev1.ResourceMemory] = resource.MustParse(strings.TrimSuffix(it.memory, "Gi") + "000Mi")
	now := metav1.Now()
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	node.Status = corev1.NodeStatus{
		Capacity: res, Allocatable: alloc,
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
			cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
		},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}, {Type: corev1.NodeHostName, Address: name},
			{Type: corev1.NodeInternalDNS, Address: name}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
		NodeInfo: corev1.NodeSystemInfo{MachineID: fmt.Sprintf("ec2%029x", i), SystemUUID: fmt.Sprintf("ec2%05x-0000-0000-0000-000000000000", i),
			BootID: fmt.Sprintf("%08x-1111-2222-3333-444444444444", i), KernelVersion: "6.1.115-126.197.amzn2023.x86_64",
			OSImage: "Amazon Linux 2023.6.20241121", ContainerRuntimeVersion: "containerd://1.7.23", KubeletVersion: "v1.35.4-eks-1234567",
			OperatingSystem: "linux", Architecture: "amd64"},
	}
	for j := range 12 {
		repo := fmt.Sprintf("602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/component-%02d", j)
		node.Status.Images = append(node.Status.Images, corev1.ContainerImage{
			Names:     []string{fmt.Sprintf("%s@sha256:%064x", repo, j+1), repo + ":v1.35.4-eksbuild.1"},
			SizeBytes: int64(20_000_000 + j*7_000_000),
		})
	}
	return node
}

// scaleTemplate is the pod template of Deployment i: an application container and a
// proxy sidecar, with what real templates carry.
func scaleTemplate(i int) corev1.PodTemplateSpec {
	app := fmt.Sprintf("service-%04d", i)
	labels := map[string]string{
		"app": app, "app.kubernetes.io/name": app, "app.kubernetes.io/instance": app + "-prod",
		"app.kubernetes.io/version": "1.4.2", "app.kubernetes.io/part-of": fmt.Sprintf("product-%02d", i%20),
		"team": fmt.Sprintf("team-%02d", i%10),
	}
	cpu := []string{"100m", "250m", "500m"}[i%3]
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{
			"prometheus.io/scrape": "true", "prometheus.io/port": "9090", "kubectl.kubernetes.io/restartedAt": "2026-03-01T09:00:00Z",
		}},
		Spec: corev1.PodSpec{
			ServiceAccountName: app,
			Containers: []corev1.Container{{
				Name: "app", Image: fmt.Sprintf("123456789012.dkr.ecr.us-east-1.amazonaws.com/%s:1.4.2", app),
				Command: []string{"/app/server"}, Args: []string{"--port=8080", "--metrics-port=9090", "--log-format=json"},
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}, {Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP}},
				Env: []corev1.EnvVar{
					{Name: "SERVICE_NAME", Value: app}, {Name: "ENVIRONMENT", Value: "production"}, {Name: "LOG_LEVEL", Value: "info"},
					{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Value: "http://otel-collector.observability:4317"},
					{Name: "DATABASE_URL", Value: fmt.Sprintf("postgres://%s@db.shop:5432/%s", app, app)},
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
				},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("512Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
				},
				LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 10},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 5},
				VolumeMounts:   []corev1.VolumeMount{{Name: "config", MountPath: "/etc/app"}},
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
					RunAsNonRoot: ptr.To(true), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			}, {
				Name: "proxy", Image: "docker.io/envoyproxy/envoy:v1.32.1", Args: []string{"--config-path", "/etc/envoy/envoy.yaml"},
				Ports: []corev1.ContainerPort{{Name: "proxy", ContainerPort: 15001, Protocol: corev1.ProtocolTCP}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
			}},
			Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: app + "-config"}}}}},
			TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone,
				WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}}},
		},
	}
}

// scaleDeploymentObject is Deployment i, applied with kubectl (its last-applied
// annotation), with the status the Deployment controller writes.
func scaleDeploymentObject(i int, shape scaleShape) *appsv1.Deployment {
	tmpl := scaleTemplate(i)
	app := tmpl.Labels["app"]
	d := &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("shop-%02d", i%shape.namespaces()), Name: app,
			Labels: map[string]string{"app": app, "team": tmpl.Labels["team"]}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](scaleReplicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			Template: tmpl,
		},
	}
	applied, _ := json.Marshal(d)
	d.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": string(applied), "deployment.kubernetes.io/revision": "1"}
	now := metav1.Now()
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: scaleReplicas, UpdatedReplicas: scaleReplicas, ReadyReplicas: scaleReplicas,
		AvailableReplicas: scaleReplicas, Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable", Message: "Deployment has minimum availability.", LastUpdateTime: now, LastTransitionTime: now},
			{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable", Message: fmt.Sprintf("ReplicaSet %q has successfully progressed.", app), LastUpdateTime: now, LastTransitionTime: now},
		}}
	return d
}

// scaleReplicaSet is the Deployment's ReplicaSet, as the Deployment controller makes it.
func scaleReplicaSet(d *appsv1.Deployment) *appsv1.ReplicaSet {
	h := fnv.New32a()
	_, _ = h.Write([]byte(d.Name))
	hash := fmt.Sprintf("%08x", h.Sum32())[:8] + "c5"
	tmpl := d.Spec.Template.DeepCopy()
	tmpl.Labels["pod-template-hash"] = hash
	sel := d.Spec.Selector.DeepCopy()
	sel.MatchLabels["pod-template-hash"] = hash
	labels := map[string]string{"pod-template-hash": hash}
	for k, v := range d.Spec.Template.Labels {
		labels[k] = v
	}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: d.Name + "-" + hash, Labels: labels,
			Annotations: map[string]string{"deployment.kubernetes.io/desired-replicas": strconv.Itoa(scaleReplicas),
				"deployment.kubernetes.io/max-replicas": strconv.Itoa(scaleReplicas + 3), "deployment.kubernetes.io/revision": "1"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](scaleReplicas), Selector: sel, Template: *tmpl},
		Status: appsv1.ReplicaSetStatus{Replicas: scaleReplicas, FullyLabeledReplicas: scaleReplicas, ReadyReplicas: scaleReplicas,
			AvailableReplicas: scaleReplicas, ObservedGeneration: 1},
	}
}

// scalePodObject is a pod of the Deployment's ReplicaSet, as the ReplicaSet controller
// creates it, with the service-account volume the API server adds; with capacity set,
// also as Ballast's webhook placed it.
func scalePodObject(d *scaleDeployment, name, capacity string) *corev1.Pod {
	var i int
	_, _ = fmt.Sscanf(strings.TrimPrefix(d.name, "service-"), "%d", &i)
	tmpl := scaleTemplate(i)
	tmpl.Labels["pod-template-hash"] = d.hash
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: d.namespace, Name: name, GenerateName: d.name + "-" + d.hash + "-",
			Labels: tmpl.Labels, Annotations: tmpl.Annotations,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: d.name + "-" + d.hash, UID: d.rsUID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}},
		Spec: tmpl.Spec,
	}
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "kube-api-access-" + name[len(name)-5:], VolumeSource: corev1.VolumeSource{
		Projected: &corev1.ProjectedVolumeSource{DefaultMode: ptr.To[int32](420), Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr.To[int64](3607), Path: "token"}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace",
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		}}}})
	for c := range pod.Spec.Containers {
		pod.Spec.Containers[c].VolumeMounts = append(pod.Spec.Containers[c].VolumeMounts, corev1.VolumeMount{
			Name: "kube-api-access-" + name[len(name)-5:], MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true})
	}
	pod.Spec.Tolerations = []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
	}
	if capacity == "" {
		return pod
	}
	pod.Labels[v1alpha1.CapacityLabel] = capacity
	pod.Annotations["ballast.dev/reason"] = "split"
	pod.Annotations["ballast.dev/reservation"] = fmt.Sprintf("%08x-0000-4000-8000-%012x", i, rand.Int64N(1<<48))
	pod.Spec.NodeSelector = map[string]string{"karpenter.sh/capacity-type": capacity}
	if capacity == v1alpha1.CapacitySpot {
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{Key: v1alpha1.CapacityTaintKey, Operator: corev1.TolerationOpEqual,
			Value: v1alpha1.CapacitySpot, Effect: corev1.TaintEffectNoSchedule})
		term := metav1.LabelSelector{MatchLabels: map[string]string{"app": tmpl.Labels["app"], v1alpha1.CapacityLabel: v1alpha1.CapacitySpot}}
		pod.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{
			{Weight: 100, PodAffinityTerm: corev1.PodAffinityTerm{LabelSelector: &term, TopologyKey: corev1.LabelHostname}}}}}
	}
	return pod
}

// runningStatus is the status the kubelet reports of a started pod.
func runningStatus(pod *corev1.Pod) client.Patch {
	now := metav1.Now()
	ip := fmt.Sprintf("10.%d.%d.%d", rand.IntN(256), rand.IntN(256), rand.IntN(256))
	st := corev1.PodStatus{
		Phase: corev1.PodRunning, HostIP: "10.0.0.1", HostIPs: []corev1.HostIP{{IP: "10.0.0.1"}}, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
		StartTime: &now, QOSClass: corev1.PodQOSBurstable,
		Conditions: []corev1.PodCondition{
			{Type: "PodReadyToStartContainers", Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		},
	}
	for _, c := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image + "@sha256:" + strings.Repeat("ab", 32),
			ContainerID: fmt.Sprintf("containerd://%064x", rand.Uint64()), Ready: true, Started: ptr.To(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	data, _ := json.Marshal(map[string]any{"status": st})
	return client.RawPatch(types.MergePatchType, data)
}

package render

import (
	"fmt"
	"maps"
	"regexp"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// Metadata service settings Ballast always renders: the endpoint stays on (nodes need
// it) and the IPv6 endpoint off, as in Karpenter's own defaults.
const (
	httpEndpointEnabled   = "enabled"
	httpProtocolIPv6Unset = "disabled"
)

// nodeClassAPIVersion and nodeClassKind identify Karpenter's AWS node class.
const (
	nodeClassAPIVersion = "karpenter.k8s.aws/v1"
	nodeClassKind       = "EC2NodeClass"
	nodeClassGroup      = "karpenter.k8s.aws"
)

// ebsVolumeSize is the volume size pattern of the EC2NodeClass CRD: Gi, G, Ti or T only.
var ebsVolumeSize = regexp.MustCompile(`^((?:[1-9][0-9]{0,3}|[1-4][0-9]{4}|[5][0-8][0-9]{3}|59000)Gi|(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|[6][0-3][0-9]{3}|64000)G|([1-9]||[1-5][0-7]|58)Ti|([1-9]||[1-5][0-9]|6[0-3]|64)T)$`)

// NodeClassName is the name of the EC2NodeClass rendered for a cluster.
func NodeClassName(cluster string) string {
	return v1alpha1.SupplyNodeClassName(cluster)
}

// nodeClass renders the EC2NodeClass of a defaulted policy.
func nodeClass(p *v1alpha1.ClusterPolicy, labels map[string]string) (*awsv1.EC2NodeClass, error) {
	nc := p.Spec.NodeClass
	spec := awsv1.EC2NodeClassSpec{
		AMISelectorTerms: []awsv1.AMISelectorTerm{{Alias: nc.AMI}},
		Tags:             cloneMap(nc.Tags),
	}
	switch {
	case nc.Role != "" && nc.InstanceProfile != "":
		return nil, fmt.Errorf("spec.nodeClass sets both role and instanceProfile: set exactly one")
	case nc.Role != "":
		spec.Role = nc.Role
	case nc.InstanceProfile != "":
		spec.InstanceProfile = ptr.To(nc.InstanceProfile)
	default:
		return nil, fmt.Errorf("spec.nodeClass sets neither role nor instanceProfile: set exactly one")
	}
	for _, t := range nc.SubnetSelector {
		spec.SubnetSelectorTerms = append(spec.SubnetSelectorTerms, awsv1.SubnetSelectorTerm{Tags: cloneMap(t.Tags), ID: t.ID})
	}
	for _, t := range nc.SecurityGroupSelector {
		spec.SecurityGroupSelectorTerms = append(spec.SecurityGroupSelectorTerms, awsv1.SecurityGroupSelectorTerm{Tags: cloneMap(t.Tags), ID: t.ID})
	}
	for i, bd := range nc.BlockDevices {
		size, err := volumeSize(bd.VolumeSize)
		if err != nil {
			return nil, fmt.Errorf("spec.nodeClass.blockDevices[%d].volumeSize: %w", i, err)
		}
		ebs := &awsv1.BlockDevice{
			VolumeSize: &size,
			Encrypted:  ptr.To(ptr.Deref(bd.Encrypted, true)),
			IOPS:       copyPtr(bd.IOPS),
			Throughput: copyPtr(bd.Throughput),
		}
		if bd.VolumeType != "" {
			ebs.VolumeType = ptr.To(bd.VolumeType)
		}
		if bd.KMSKeyID != "" {
			ebs.KMSKeyID = ptr.To(bd.KMSKeyID)
		}
		spec.BlockDeviceMappings = append(spec.BlockDeviceMappings, &awsv1.BlockDeviceMapping{
			DeviceName: ptr.To(bd.DeviceName),
			EBS:        ebs,
		})
	}
	mo := ptr.Deref(nc.MetadataOptions, v1alpha1.MetadataOptions{})
	tokens := mo.HTTPTokens
	if tokens == "" {
		tokens = v1alpha1.DefaultHTTPTokens
	}
	spec.MetadataOptions = &awsv1.MetadataOptions{
		HTTPEndpoint:            ptr.To(httpEndpointEnabled),
		HTTPProtocolIPv6:        ptr.To(httpProtocolIPv6Unset),
		HTTPPutResponseHopLimit: ptr.To(ptr.Deref(mo.HTTPPutResponseHopLimit, v1alpha1.DefaultHopLimit)),
		HTTPTokens:              ptr.To(tokens),
	}
	return &awsv1.EC2NodeClass{
		TypeMeta: metav1.TypeMeta{APIVersion: nodeClassAPIVersion, Kind: nodeClassKind},
		ObjectMeta: metav1.ObjectMeta{
			Name:   NodeClassName(p.Spec.Cluster.Name),
			Labels: labels,
		},
		Spec: spec,
	}, nil
}

// volumeSize writes a volume size the way the EC2NodeClass schema accepts it. A size
// already in Gi, G, Ti or T is kept; any other spelling (bytes, Mi, ...) is rounded up
// to whole GiB.
func volumeSize(q resource.Quantity) (resource.Quantity, error) {
	if q.Sign() <= 0 {
		return resource.Quantity{}, fmt.Errorf("%s is not a positive size", q.String())
	}
	if ebsVolumeSize.MatchString(q.String()) {
		return q.DeepCopy(), nil
	}
	const gib = int64(1) << 30
	bytes := q.Value() // rounds up
	size := resource.MustParse(fmt.Sprintf("%dGi", (bytes+gib-1)/gib))
	if !ebsVolumeSize.MatchString(size.String()) {
		return resource.Quantity{}, fmt.Errorf("%s is outside the sizes EBS supports (1Gi to 64T)", q.String())
	}
	return size, nil
}

func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

func copyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

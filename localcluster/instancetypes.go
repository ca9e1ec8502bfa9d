package localcluster

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/cost"
)

// kwokZones are the zones of kwok's nodes; the kwok render target maps a region's
// zones to them by letter (eu-west-1a is test-zone-a).
var kwokZones = []string{"test-zone-a", "test-zone-b", "test-zone-c", "test-zone-d"}

// kwokInstanceType is one entry of Karpenter's kwok instance-types file (the format of
// its embedded instance_types.json, read from INSTANCE_TYPES_FILE_PATH).
type kwokInstanceType struct {
	Name             string              `json:"name"`
	Offerings        []kwokOffering      `json:"offerings"`
	Architecture     string              `json:"architecture"`
	OperatingSystems []corev1.OSName     `json:"operatingSystems"`
	Resources        corev1.ResourceList `json:"resources"`
}

type kwokOffering struct {
	Price        float64                          `json:"Price"`
	Available    bool                             `json:"Available"`
	Requirements []corev1.NodeSelectorRequirement `json:"Requirements"`
}

// AWSInstanceTypes returns a kwok instance-types file (Options.InstanceTypes) with
// real EC2 instance types instead of kwok's generic ones: their shapes and their
// On-Demand and Spot prices in region from Ballast's built-in catalogue, offered in
// every kwok zone. Nodes then carry AWS instance-type names (m5.large), so that a
// policy naming real types (commitments, exclusions) means the same on kwok.
func AWSInstanceTypes(region string, names ...string) ([]byte, error) {
	book := cost.DefaultCatalogue()
	var out []kwokInstanceType
	for _, name := range names {
		shape, ok := book.Shape(name)
		if !ok {
			return nil, fmt.Errorf("instance type %s is not in the catalogue", name)
		}
		od, okOD := book.Price(region, name, cost.OnDemand)
		spot, okSpot := book.Price(region, name, cost.Spot)
		if !okOD || !okSpot {
			return nil, fmt.Errorf("instance type %s has no On-Demand and Spot price in %s in the catalogue", name, region)
		}
		it := kwokInstanceType{
			Name: name, Architecture: shape.Arch, OperatingSystems: []corev1.OSName{corev1.Linux},
			Resources: corev1.ResourceList{
				corev1.ResourceCPU:    *resource.NewQuantity(int64(shape.VCPU), resource.DecimalSI),
				corev1.ResourceMemory: *resource.NewQuantity(int64(shape.MemoryGiB*(1<<30)), resource.BinarySI),
				corev1.ResourcePods:   *resource.NewQuantity(int64(max(shape.MaxPods, 1)), resource.DecimalSI),
			},
		}
		for _, zone := range kwokZones {
			for _, ct := range []struct {
				name  string
				price float64
			}{{karpv1.CapacityTypeSpot, spot}, {karpv1.CapacityTypeOnDemand, od}} {
				it.Offerings = append(it.Offerings, kwokOffering{Price: ct.price, Available: true, Requirements: []corev1.NodeSelectorRequirement{
					{Key: karpv1.CapacityTypeLabelKey, Operator: corev1.NodeSelectorOpIn, Values: []string{ct.name}},
					{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{zone}},
				}})
			}
		}
		out = append(out, it)
	}
	return json.MarshalIndent(out, "", "  ")
}

// writeInstanceTypes writes the kwok instance-types file of the cluster.
func (c *Cluster) writeInstanceTypes(data []byte) error {
	if len(data) == 0 {
		return nil
	}
	var check []kwokInstanceType
	if err := json.Unmarshal(data, &check); err != nil {
		return fmt.Errorf("the kwok instance types are not an instance-types list: %w", err)
	}
	if len(check) == 0 {
		return fmt.Errorf("the kwok instance types list is empty")
	}
	c.InstanceTypesFile = filepath.Join(c.Dir, "instance-types.json")
	return os.WriteFile(c.InstanceTypesFile, data, 0o600)
}

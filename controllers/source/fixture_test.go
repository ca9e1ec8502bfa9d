package source

import (
	"fmt"
	"testing/fstest"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// policyFiles is a policy tree for cluster: a ClusterPolicy with a maintenance window
// in a time zone, and a WorkloadDistributionRule in namespace. onDemand sets the
// cluster's onDemandPercent; spot=false disables Spot (no spot NodePool).
func policyFiles(cluster, namespace string, onDemand int, spot bool) fstest.MapFS {
	return fstest.MapFS{
		"policies/clusters/" + cluster + ".yaml": &fstest.MapFile{Data: fmt.Appendf(nil, `apiVersion: ballast.dev/v1alpha1
kind: ClusterPolicy
metadata:
  name: %[1]s
spec:
  cluster:
    name: %[1]s
    region: eu-central-1
  nodeClass:
    role: KarpenterNodeRole-%[1]s
  instances:
    categories: [c, m, r]
    minGeneration: 6
    cpu: {min: 2, max: 32}
    zones: [eu-central-1a, eu-central-1b]
  limits: {cpu: "2000", memory: 8000Gi, nodes: 300}
  spot:
    enabled: %[3]t
  distribution: {baseOnDemand: 1, onDemandPercent: %[2]d}
  maintenanceWindows:
    - {name: nights, days: [Mon, Tue, Wed, Thu, Fri], start: "22:00", end: "06:00", timeZone: Europe/Berlin, allow: [Consolidation]}
`, cluster, onDemand, spot)},
		"policies/rules/web.yaml": &fstest.MapFile{Data: fmt.Appendf(nil, `apiVersion: ballast.dev/v1alpha1
kind: WorkloadDistributionRule
metadata:
  name: web
  namespace: %[2]s
spec:
  clusters: [%[1]s]
  onDemandPercent: 50
`, cluster, namespace)},
		"README.md": &fstest.MapFile{Data: []byte("policies\n")},
	}
}

func v1alpha1ResourceRef(id string) v1alpha1.ResourceRef {
	return v1alpha1.ResourceRef{ID: id, Version: "v1"}
}

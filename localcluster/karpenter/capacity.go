package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	v1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	"sigs.k8s.io/karpenter/pkg/scheduling"
)

// Pool is a set of offerings: a capacity type, a zone and an instance-type pattern
// (path.Match syntax); an empty zone or pattern matches all.
type Pool struct {
	CapacityType string `json:"capacityType"`
	Zone         string `json:"zone,omitempty"`
	InstanceType string `json:"instanceType,omitempty"`
}

func (p Pool) matches(capacityType, zone, instanceType string) bool {
	if p.CapacityType != capacityType || (p.Zone != "" && p.Zone != zone) {
		return false
	}
	if p.InstanceType == "" {
		return true
	}
	ok, _ := path.Match(p.InstanceType, instanceType)
	return ok
}

// capacityState is the content of the capacity file.
type capacityState struct {
	Blocked []Pool `json:"blocked"`
}

func capacityFileFromEnv() string { return os.Getenv("BALLAST_CAPACITY_FILE") }

// unavailableTTLFromEnv is how long a failed offering is reported unavailable, as the
// AWS provider's unavailable-offerings cache does (3 minutes there); BALLAST_UNAVAILABLE_TTL
// overrides it for tests.
func unavailableTTLFromEnv() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("BALLAST_UNAVAILABLE_TTL")); err == nil && d > 0 {
		return d
	}
	return 3 * time.Minute
}

// capacityProvider decorates the kwok cloud provider with EC2's insufficient-capacity
// behaviour. Create picks the cheapest offering the NodeClaim allows that is not blocked
// and launches exactly that one; when every allowed offering is blocked it fails with
// InsufficientCapacityError, as CreateFleet does. Offerings that failed are reported
// unavailable by GetInstanceTypes (as the AWS provider's unavailable-offerings cache
// does) until the test unblocks them or for the cache's TTL, after which Karpenter
// tries them again.
type capacityProvider struct {
	cloudprovider.CloudProvider
	instanceTypes []*cloudprovider.InstanceType
	file          string

	mu      sync.Mutex
	modTime time.Time
	state   capacityState
	// unavailable holds when each capacityType/zone/instanceType failed; it is
	// reported unavailable for ttl after, or until unblocked.
	unavailable map[string]time.Time
	ttl         time.Duration
}

func newCapacityProvider(inner cloudprovider.CloudProvider, its []*cloudprovider.InstanceType, file string) *capacityProvider {
	return &capacityProvider{CloudProvider: inner, instanceTypes: its, file: file, unavailable: map[string]time.Time{}, ttl: unavailableTTLFromEnv()}
}

func offeringKey(capacityType, zone, instanceType string) string {
	return capacityType + "/" + zone + "/" + instanceType
}

// blocked re-reads the capacity file when it changed and returns the blocked pools;
// offerings that failed but are no longer blocked become available again.
func (p *capacityProvider) blocked() []Pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.file == "" {
		return nil
	}
	st, err := os.Stat(p.file)
	if errors.Is(err, os.ErrNotExist) {
		p.state, p.modTime = capacityState{}, time.Time{}
	} else if err == nil && !st.ModTime().Equal(p.modTime) {
		data, err := os.ReadFile(p.file)
		var next capacityState
		if err == nil && json.Unmarshal(data, &next) == nil {
			p.state, p.modTime = next, st.ModTime()
		}
	}
	for key, at := range p.unavailable {
		if !p.isBlockedLocked(key) || time.Since(at) >= p.ttl {
			delete(p.unavailable, key)
		}
	}
	return p.state.Blocked
}

func (p *capacityProvider) isBlockedLocked(key string) bool {
	parts := strings.SplitN(key, "/", 3)
	return len(parts) == 3 && isBlocked(p.state.Blocked, parts[0], parts[1], parts[2])
}

func isBlocked(pools []Pool, capacityType, zone, instanceType string) bool {
	for _, pool := range pools {
		if pool.matches(capacityType, zone, instanceType) {
			return true
		}
	}
	return false
}

// GetInstanceTypes marks the offerings that failed with insufficient capacity as
// unavailable.
func (p *capacityProvider) GetInstanceTypes(ctx context.Context, np *v1.NodePool) ([]*cloudprovider.InstanceType, error) {
	its, err := p.CloudProvider.GetInstanceTypes(ctx, np)
	if err != nil {
		return nil, err
	}
	p.blocked()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.unavailable) == 0 {
		return its, nil
	}
	out := make([]*cloudprovider.InstanceType, 0, len(its))
	for _, it := range its {
		var cp *cloudprovider.InstanceType
		for i, o := range it.Offerings {
			if _, failed := p.unavailable[offeringKey(o.CapacityType(), o.Zone(), it.Name)]; o.Available && failed {
				if cp == nil {
					cp = &cloudprovider.InstanceType{}
					it.DeepCopyInto(cp)
				}
				cp.Offerings[i].Available = false
			}
		}
		if cp != nil {
			out = append(out, cp)
		} else {
			out = append(out, it)
		}
	}
	return out, nil
}

// Create launches the cheapest allowed offering that is not blocked.
func (p *capacityProvider) Create(ctx context.Context, nc *v1.NodeClaim) (*v1.NodeClaim, error) {
	pools := p.blocked()
	if len(pools) == 0 {
		return p.CloudProvider.Create(ctx, nc)
	}
	reqs := scheduling.NewNodeSelectorRequirementsWithMinValues(nc.Spec.Requirements...)
	allowed := reqs.Get(corev1.LabelInstanceTypeStable)
	var best *cloudprovider.Offering
	var bestType string
	var failed []string
	for _, it := range p.instanceTypes {
		if !allowed.Has(it.Name) {
			continue
		}
		for _, o := range it.Offerings.Available().Compatible(reqs) {
			if isBlocked(pools, o.CapacityType(), o.Zone(), it.Name) {
				failed = append(failed, offeringKey(o.CapacityType(), o.Zone(), it.Name))
				continue
			}
			if best == nil || o.Price < best.Price {
				best, bestType = o, it.Name
			}
		}
	}
	p.mu.Lock()
	for _, key := range failed {
		p.unavailable[key] = time.Now()
	}
	p.mu.Unlock()
	if best == nil {
		return nil, cloudprovider.NewInsufficientCapacityError(fmt.Errorf("InsufficientInstanceCapacity: no capacity in the %d offerings the NodeClaim allows", len(failed)))
	}
	narrowed := nc.DeepCopy()
	narrowed.Spec.Requirements = narrow(nc.Spec.Requirements, map[string]string{
		corev1.LabelInstanceTypeStable: bestType,
		corev1.LabelTopologyZone:       best.Zone(),
		v1.CapacityTypeLabelKey:        best.CapacityType(),
	})
	return p.CloudProvider.Create(ctx, narrowed)
}

// narrow replaces the requirements on the given keys by In [value].
func narrow(reqs []v1.NodeSelectorRequirementWithMinValues, pin map[string]string) []v1.NodeSelectorRequirementWithMinValues {
	var out []v1.NodeSelectorRequirementWithMinValues
	for _, r := range reqs {
		if _, ok := pin[r.Key]; !ok {
			out = append(out, r)
		}
	}
	for key, value := range pin {
		out = append(out, v1.NodeSelectorRequirementWithMinValues{Key: key, Operator: corev1.NodeSelectorOpIn, Values: []string{value}})
	}
	return out
}

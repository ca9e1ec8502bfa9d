package cost

import (
	"bytes"
	"cmp"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// Capacity types a PriceBook prices. OnDemand and Spot are the strings Karpenter uses
// for karpenter.sh/capacity-type; Reserved and SavingsPlan are the effective hourly
// prices of an instance covered by a commitment.
const (
	OnDemand = "on-demand"
	Spot     = "spot"
	// Reserved is the hourly price under a 1-year Standard Reserved Instance; an EC2
	// Instance Savings Plan prices its family the same.
	Reserved = "reserved"
	// SavingsPlan is the hourly price under a 1-year Compute Savings Plan.
	SavingsPlan = "savings-plan"
)

// PriceBook answers what an instance type costs per hour in a region, by capacity
// type (OnDemand, Spot, Reserved or SavingsPlan). ok is false when the book does not
// know the price. A PriceBook that is also a fmt.Stringer (a Catalogue is) names its
// prices in reports (Report.Prices).
type PriceBook interface {
	Price(region, instanceType, capacityType string) (usdPerHour float64, ok bool)
}

// ShapeBook is implemented by a PriceBook that also knows the size of instance types.
// EstimateForPolicy packs replicas onto the types a ShapeBook knows, or onto those of
// the default catalogue when the PriceBook is not one.
type ShapeBook interface {
	Shape(instanceType string) (Shape, bool)
	// InstanceTypes lists every type the book has a shape for, sorted.
	InstanceTypes() []string
}

// Shape is the size of an instance type.
type Shape struct {
	// VCPU is the number of vCPUs.
	VCPU int `yaml:"vcpu" json:"vcpu"`
	// MemoryGiB is the memory in GiB.
	MemoryGiB float64 `yaml:"memory" json:"memoryGiB"`
	// Arch is amd64 or arm64.
	Arch string `yaml:"arch" json:"arch"`
	// MaxPods is how many pods the node runs (ENI-limited with the AWS VPC CNI).
	MaxPods int `yaml:"maxPods" json:"maxPods"`
	// GPU is the number of NVIDIA GPUs (GPUResource) the node offers.
	GPU int `yaml:"gpu,omitempty" json:"gpu,omitempty"`
}

// Catalogue is a table of instance shapes and prices: the embedded default, a file
// in the same format, or live prices laid over either. It implements PriceBook,
// ShapeBook and fmt.Stringer (which names the prices it holds and where they came
// from). A Catalogue is not safe for concurrent modification.
type Catalogue struct {
	// Name names the catalogue in reports: BuiltIn for the embedded one,
	// the file's name for one LoadCatalogue read.
	Name string
	// Source and AsOf say where the catalogue's own prices come from and when they
	// were taken (the file's source and asOf); what was laid over it since is in
	// String.
	Source string
	AsOf   string
	// ReservedDiscount and SavingsPlanDiscount derive commitment prices from the
	// On-Demand price when a price does not list them.
	ReservedDiscount    float64
	SavingsPlanDiscount float64

	shapes map[string]Shape
	prices map[string]map[string]priceEntry
	// overlays describes what Merge and NoteOverlay laid over the catalogue, oldest
	// first.
	overlays []string
}

// priceEntry is the hourly prices of one type in one region; 0 means unknown.
type priceEntry struct {
	onDemand, spot, reserved, savingsPlan float64
}

//go:embed prices.yaml
var defaultCatalogueData []byte

var (
	defaultOnce sync.Once
	defaultCat  *Catalogue
)

// DefaultPriceBook returns the offline catalogue embedded in the binary (see
// prices.yaml for its source and date).
func DefaultPriceBook() PriceBook { return DefaultCatalogue() }

// BuiltIn is the Name of the embedded catalogue.
const BuiltIn = "the built-in catalogue"

// DefaultCatalogue returns a copy of the embedded catalogue, which the caller may
// change.
func DefaultCatalogue() *Catalogue {
	defaultOnce.Do(func() {
		c, err := ParseCatalogue(defaultCatalogueData)
		if err != nil {
			panic(fmt.Sprintf("the embedded price catalogue is broken: %v", err))
		}
		c.Name = BuiltIn
		defaultCat = c
	})
	return defaultCat.Clone()
}

// LoadCatalogue reads a catalogue file (see ParseCatalogue) and names it after the
// file.
func LoadCatalogue(path string) (*Catalogue, error) {
	data, err := os.ReadFile(path) //nolint:gosec // the user names the file to read
	if err != nil {
		return nil, fmt.Errorf("failed to read the price file %s: %w", path, err)
	}
	c, err := ParseCatalogue(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.Name = path
	return c, nil
}

// catalogueFile is the YAML form of a Catalogue.
type catalogueFile struct {
	Source    string `yaml:"source"`
	AsOf      string `yaml:"asOf"`
	Discounts *struct {
		Reserved    *float64 `yaml:"reserved"`
		SavingsPlan *float64 `yaml:"savingsPlan"`
	} `yaml:"discounts"`
	InstanceTypes map[string]Shape                `yaml:"instanceTypes"`
	Prices        map[string]map[string][]float64 `yaml:"prices"`
}

// ParseCatalogue reads a catalogue in the format of prices.yaml. Unknown fields are
// errors, so that a typo does not silently leave a price out.
func ParseCatalogue(data []byte) (*Catalogue, error) {
	var f catalogueFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("invalid price catalogue: %w", err)
	}
	c := &Catalogue{Source: f.Source, AsOf: f.AsOf, shapes: map[string]Shape{}, prices: map[string]map[string]priceEntry{}}
	if d := f.Discounts; d != nil {
		for _, v := range []*float64{d.Reserved, d.SavingsPlan} {
			if v != nil && (*v < 0 || *v >= 1) {
				return nil, fmt.Errorf("invalid price catalogue: discount %v is not a fraction in [0, 1)", *v)
			}
		}
		if d.Reserved != nil {
			c.ReservedDiscount = *d.Reserved
		}
		if d.SavingsPlan != nil {
			c.SavingsPlanDiscount = *d.SavingsPlan
		}
	}
	for name, s := range f.InstanceTypes {
		if s.VCPU <= 0 || s.MemoryGiB <= 0 || s.MaxPods <= 0 || (s.Arch != "amd64" && s.Arch != "arm64") {
			return nil, fmt.Errorf("invalid price catalogue: instance type %s needs vcpu, memory and maxPods above 0 and arch amd64 or arm64", name)
		}
		if s.GPU < 0 {
			return nil, fmt.Errorf("invalid price catalogue: instance type %s has a negative gpu count", name)
		}
		c.shapes[name] = s
	}
	for region, types := range f.Prices {
		for name, p := range types {
			if len(p) != 2 && len(p) != 4 {
				return nil, fmt.Errorf("invalid price catalogue: %s %s: write [On-Demand, Spot] or [On-Demand, Spot, Reserved, Savings Plan]", region, name)
			}
			for _, v := range p {
				if v < 0 {
					return nil, fmt.Errorf("invalid price catalogue: %s %s: negative price %v", region, name, v)
				}
			}
			e := priceEntry{onDemand: p[0], spot: p[1]}
			if len(p) == 4 {
				e.reserved, e.savingsPlan = p[2], p[3]
			}
			c.setEntry(region, name, e)
		}
	}
	return c, nil
}

func (c *Catalogue) setEntry(region, instanceType string, e priceEntry) {
	if c.prices[region] == nil {
		c.prices[region] = map[string]priceEntry{}
	}
	c.prices[region][instanceType] = e
}

// Clone returns a deep copy.
func (c *Catalogue) Clone() *Catalogue {
	out := *c
	out.shapes = maps.Clone(c.shapes)
	out.overlays = slices.Clone(c.overlays)
	out.prices = make(map[string]map[string]priceEntry, len(c.prices))
	for r, m := range c.prices {
		out.prices[r] = maps.Clone(m)
	}
	return &out
}

// Merge lays o over c: o's shapes and prices replace c's, type by type, and o's
// discounts replace c's where o sets them. Prices o leaves at 0 keep c's value. c's
// String names o (its name, source and date) laid over c.
func (c *Catalogue) Merge(o *Catalogue) {
	c.overlays = append(c.overlays, o.String())
	if o.ReservedDiscount != 0 {
		c.ReservedDiscount = o.ReservedDiscount
	}
	if o.SavingsPlanDiscount != 0 {
		c.SavingsPlanDiscount = o.SavingsPlanDiscount
	}
	maps.Copy(c.shapes, o.shapes)
	for r, m := range o.prices {
		for t, e := range m {
			old := c.prices[r][t]
			if e.onDemand == 0 {
				e.onDemand = old.onDemand
			}
			if e.spot == 0 {
				e.spot = old.spot
			}
			if e.reserved == 0 {
				e.reserved = old.reserved
			}
			if e.savingsPlan == 0 {
				e.savingsPlan = old.savingsPlan
			}
			c.setEntry(r, t, e)
		}
	}
}

// NoteOverlay records, for String, that prices described by description (e.g. live
// prices from the AWS APIs, and when) were set over the catalogue with SetPrice.
func (c *Catalogue) NoteOverlay(description string) {
	c.overlays = append(c.overlays, description)
}

// String names the prices the catalogue holds for reports, newest layer first, e.g.
// "prices.yaml (negotiated, as of 2026-01) over the built-in catalogue (AWS public
// price lists ..., as of 2025-06)".
func (c *Catalogue) String() string {
	name := cmp.Or(c.Name, "a price catalogue")
	var about []string
	if c.Source != "" {
		about = append(about, c.Source)
	}
	if c.AsOf != "" {
		about = append(about, "as of "+c.AsOf)
	}
	s := name
	if len(about) > 0 {
		s += " (" + strings.Join(about, ", ") + ")"
	}
	for _, o := range c.overlays {
		s = o + " over " + s
	}
	return s
}

// SetPrice sets one hourly price, e.g. a live Spot price; capacityType is OnDemand,
// Spot, Reserved or SavingsPlan.
func (c *Catalogue) SetPrice(region, instanceType, capacityType string, usdPerHour float64) error {
	e := c.prices[region][instanceType]
	switch capacityType {
	case OnDemand:
		e.onDemand = usdPerHour
	case Spot:
		e.spot = usdPerHour
	case Reserved:
		e.reserved = usdPerHour
	case SavingsPlan:
		e.savingsPlan = usdPerHour
	default:
		return fmt.Errorf("unknown capacity type %q: use %s, %s, %s or %s", capacityType, OnDemand, Spot, Reserved, SavingsPlan)
	}
	c.setEntry(region, instanceType, e)
	return nil
}

// Price implements PriceBook. Reserved and SavingsPlan prices not listed are derived
// from the On-Demand price and the catalogue's discounts.
func (c *Catalogue) Price(region, instanceType, capacityType string) (float64, bool) {
	e, ok := c.prices[region][instanceType]
	if !ok {
		return 0, false
	}
	var p float64
	switch capacityType {
	case OnDemand:
		p = e.onDemand
	case Spot:
		p = e.spot
	case Reserved:
		p = e.reserved
		if p == 0 {
			p = e.onDemand * (1 - c.ReservedDiscount)
		}
	case SavingsPlan:
		p = e.savingsPlan
		if p == 0 {
			p = e.onDemand * (1 - c.SavingsPlanDiscount)
		}
	}
	return p, p > 0
}

// Shape implements ShapeBook.
func (c *Catalogue) Shape(instanceType string) (Shape, bool) {
	s, ok := c.shapes[instanceType]
	return s, ok
}

// InstanceTypes implements ShapeBook.
func (c *Catalogue) InstanceTypes() []string {
	return slices.Sorted(maps.Keys(c.shapes))
}

// Regions lists the regions the catalogue has prices for, sorted.
func (c *Catalogue) Regions() []string {
	return slices.Sorted(maps.Keys(c.prices))
}

package cost

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultCatalogue(t *testing.T) {
	c := DefaultCatalogue()
	if c.Source == "" || c.AsOf == "" {
		t.Errorf("the catalogue must say its source and date: %q, %q", c.Source, c.AsOf)
	}
	families := []string{"m5", "m6i", "m7i", "m6a", "m7a", "m6g", "m7g", "c5", "c6i", "c7i", "c6a", "c7a", "c6g", "c7g", "r5", "r6i", "r7i", "r6a", "r7a", "r6g", "r7g"}
	sizes := []string{"large", "xlarge", "2xlarge", "4xlarge"}
	regions := []string{"us-east-1", "us-west-2", "eu-west-1", "eu-central-1"}
	for _, region := range regions {
		for _, f := range families {
			for _, size := range sizes {
				typ := f + "." + size
				od, ok := c.Price(region, typ, OnDemand)
				spot, ok2 := c.Price(region, typ, Spot)
				if !ok || !ok2 || spot >= od {
					t.Errorf("%s %s: On-Demand %v (%v), Spot %v (%v); want both, Spot below On-Demand", region, typ, od, ok, spot, ok2)
				}
				if _, ok := c.Shape(typ); !ok {
					t.Errorf("%s has no shape", typ)
				}
			}
		}
		for _, typ := range []string{"t3.medium", "t3.large", "t3.xlarge", "t3.2xlarge"} {
			if _, ok := c.Price(region, typ, OnDemand); !ok {
				t.Errorf("%s %s has no price", region, typ)
			}
		}
	}
	// Every priced type has a shape, so the planner can use it.
	for _, region := range c.Regions() {
		for typ := range c.prices[region] {
			if _, ok := c.Shape(typ); !ok {
				t.Errorf("%s is priced in %s but has no shape", typ, region)
			}
		}
	}
	// Spot-check published list prices (us-east-1, Linux On-Demand).
	for typ, want := range map[string]float64{"m6i.large": 0.096, "c6i.xlarge": 0.17, "r6i.2xlarge": 0.504, "m5.4xlarge": 0.768, "t3.medium": 0.0416} {
		if got, _ := c.Price("us-east-1", typ, OnDemand); got != want {
			t.Errorf("us-east-1 %s = %v, want %v", typ, got, want)
		}
	}
	// Reserved and Savings Plan prices follow from the discounts: 0.096 * (1 - 0.37).
	if got, _ := c.Price("us-east-1", "m6i.large", Reserved); math.Abs(got-0.06048) > 1e-12 {
		t.Errorf("reserved m6i.large = %v", got)
	}
	if s, _ := c.Shape("r6g.xlarge"); s != (Shape{VCPU: 4, MemoryGiB: 32, Arch: "arm64", MaxPods: 58}) {
		t.Errorf("r6g.xlarge = %+v", s)
	}
	// GPU types: their GPUs, real On-Demand list prices in us-east-1 and eu-west-1
	// (Linux, per hour), a Spot price below On-Demand.
	for typ, want := range map[string]struct {
		gpu            int
		usEast, euWest float64
	}{
		"g4dn.xlarge": {1, 0.526, 0.587}, "g4dn.12xlarge": {4, 3.912, 4.362}, "g5.xlarge": {1, 1.006, 1.123}, "g5.48xlarge": {8, 16.288, 18.18233},
		"g6.xlarge": {1, 0.8048, 0}, "p3.2xlarge": {1, 3.06, 3.305}, "p4d.24xlarge": {8, 21.957642, 23.71569}, "p5.48xlarge": {8, 55.04, 0},
	} {
		if s, ok := c.Shape(typ); !ok || s.GPU != want.gpu {
			t.Errorf("%s shape %+v, want %d GPUs", typ, s, want.gpu)
		}
		for region, od := range map[string]float64{"us-east-1": want.usEast, "eu-west-1": want.euWest} {
			got, ok := c.Price(region, typ, OnDemand)
			spot, _ := c.Price(region, typ, Spot)
			if got != od || (ok && (spot <= 0 || spot >= od)) {
				t.Errorf("%s %s: On-Demand %v, Spot %v; want On-Demand %v (0: not offered) and Spot below it", region, typ, got, spot, od)
			}
		}
	}
	for _, typ := range c.InstanceTypes() {
		s, _ := c.Shape(typ)
		if gpuFamily := strings.HasPrefix(typ, "g") || strings.HasPrefix(typ, "p"); gpuFamily != (s.GPU > 0) {
			t.Errorf("%s has %d GPUs", typ, s.GPU)
		}
	}
	if got, want := c.String(), "the built-in catalogue (AWS public price lists (On-Demand Linux, shared tenancy), Spot typical of the price history; approximate, as of 2025-06)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	// DefaultCatalogue returns copies.
	_ = c.SetPrice("us-east-1", "m6i.large", OnDemand, 1)
	if got, _ := DefaultCatalogue().Price("us-east-1", "m6i.large", OnDemand); got != 0.096 {
		t.Errorf("changing a copy changed the default: %v", got)
	}
}

func TestParseCatalogueAndMerge(t *testing.T) {
	for _, tc := range []struct{ name, data, err string }{
		{"unknown field", "sauce: x\n", "field sauce not found"},
		{"one price", "prices:\n  eu-west-1:\n    m6i.large: [0.1]\n", "write [On-Demand, Spot]"},
		{"negative price", "prices:\n  eu-west-1:\n    m6i.large: [0.1, -1]\n", "negative price"},
		{"discount above one", "discounts:\n  reserved: 1.5\n", "not a fraction"},
		{"bad shape", "instanceTypes:\n  x.large: {vcpu: 2, memory: 8, arch: sparc, maxPods: 29}\n", "arch amd64 or arm64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCatalogue([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
	c := DefaultCatalogue()
	o, err := ParseCatalogue([]byte(`source: negotiated
discounts: {reserved: 0.5}
instanceTypes:
  x9.large: {vcpu: 2, memory: 8, arch: amd64, maxPods: 29}
prices:
  eu-central-1:
    m6i.xlarge: [0.2, 0]
    x9.large: [1, 0.5]
`))
	if err != nil {
		t.Fatal(err)
	}
	spot, _ := c.Price("eu-central-1", "m6i.xlarge", Spot)
	c.Merge(o)
	if got, _ := c.Price("eu-central-1", "m6i.xlarge", OnDemand); got != 0.2 {
		t.Errorf("merged On-Demand = %v, want 0.2", got)
	}
	if got, _ := c.Price("eu-central-1", "m6i.xlarge", Spot); got != spot {
		t.Errorf("a 0 in the override must keep the Spot price %v, got %v", spot, got)
	}
	if got, _ := c.Price("eu-central-1", "m6i.xlarge", Reserved); got != 0.1 {
		t.Errorf("reserved with the merged discount = %v, want 0.2 * 0.5", got)
	}
	if _, ok := c.Shape("x9.large"); !ok {
		t.Errorf("merge lost the new type")
	}
	// The catalogue names what was laid over it: o has no name (ParseCatalogue).
	if got, want := c.String(), "a price catalogue (negotiated) over the built-in catalogue (AWS public price lists"; !strings.HasPrefix(got, want) {
		t.Errorf("String() = %q, want it to start with %q", got, want)
	}
	if err := c.SetPrice("eu-central-1", "x9.large", "preemptible", 1); err == nil {
		t.Error("SetPrice accepted an unknown capacity type")
	}
}

func TestCatalogueNamesItsPrices(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "negotiated.yaml")
	if err := os.WriteFile(file, []byte("source: our AWS contract\nasOf: \"2026-01\"\nprices:\n  us-east-1:\n    m6i.large: [0.09, 0]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := LoadCatalogue(file)
	if err != nil {
		t.Fatal(err)
	}
	c := DefaultCatalogue()
	c.Merge(o)
	c.NoteOverlay("live AWS prices")
	want := "live AWS prices over " + file + " (our AWS contract, as of 2026-01) over the built-in catalogue (AWS public price lists"
	if got := c.String(); !strings.HasPrefix(got, want) {
		t.Errorf("String() = %q, want it to start with %q", got, want)
	}
	// A clone keeps the layers; changing it leaves the original alone.
	clone := c.Clone()
	clone.NoteOverlay("more")
	if !strings.HasPrefix(clone.String(), "more over live AWS prices over ") || strings.HasPrefix(c.String(), "more") {
		t.Errorf("clone %q, original %q", clone.String(), c.String())
	}
	if got, _ := c.Price("us-east-1", "m6i.large", OnDemand); got != 0.09 {
		t.Errorf("merged price = %v", got)
	}
	if _, err := LoadCatalogue(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "failed to read the price file") {
		t.Errorf("a missing file: %v", err)
	}
}

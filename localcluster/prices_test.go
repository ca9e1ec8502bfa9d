package localcluster_test

import (
	"testing"

	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/localcluster"
)

// TestKwokPricesParse: the price file of kwok's instance types is one the cost
// catalogue reads, with a Spot price below the On-Demand one for the types kwok
// offers on Spot.
func TestKwokPricesParse(t *testing.T) {
	data, err := localcluster.KwokPrices("eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	c, err := cost.ParseCatalogue(data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	types := c.InstanceTypes()
	if len(types) < 10 {
		t.Fatalf("only %d instance types: %v", len(types), types)
	}
	for _, typ := range types {
		od, ok := c.Price("eu-west-1", typ, cost.OnDemand)
		if !ok || od <= 0 {
			t.Fatalf("%s has no On-Demand price", typ)
		}
		if sp, ok := c.Price("eu-west-1", typ, cost.Spot); ok && sp >= od {
			t.Fatalf("%s: Spot %v is not below On-Demand %v", typ, sp, od)
		}
	}
}

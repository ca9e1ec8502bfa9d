package localcluster_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/ballast-dev/ballast/cloud"
	awscloud "github.com/ballast-dev/ballast/cloud/aws"
	"github.com/ballast-dev/ballast/cost"
	"github.com/ballast-dev/ballast/localcluster"
)

// TestAWSAPIThroughTheSDK: the real SDK, configured only by the environment the
// stand-in gives (as the controller binary is), reads back the Reserved Instances
// and Savings Plans it serves.
func TestAWSAPIThroughTheSDK(t *testing.T) {
	end := time.Date(2031, 6, 30, 0, 0, 0, 0, time.UTC)
	ris := []cloud.ReservedInstance{
		{ID: "ri-1", InstanceType: "m5.large", Count: 3, Region: "eu-west-1", End: end},
		{ID: "ri-2", InstanceType: "c5.large", Count: 1, Region: "eu-west-1", Zone: "eu-west-1b", End: end},
	}
	sps := []cloud.SavingsPlan{{ID: "sp-1", Type: cloud.ComputeSavingsPlan, PerHour: 0.25, Currency: "USD", End: end}}
	api, err := localcluster.StartAWSAPI(ris, sps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.Stop)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	for _, kv := range api.Env("eu-west-1") {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	src := awscloud.NewCommitments(cfg)
	gotRIs, err := src.ReservedInstances(context.Background(), "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	want := []cloud.ReservedInstance{ris[1], ris[0]} // sorted by type
	if !reflect.DeepEqual(gotRIs, want) {
		t.Errorf("reserved instances = %+v, want %+v", gotRIs, want)
	}
	gotSPs, err := src.SavingsPlans(context.Background(), "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotSPs, sps) {
		t.Errorf("savings plans = %+v, want %+v", gotSPs, sps)
	}
	if api.Calls("DescribeReservedInstances") != 1 || api.Calls("DescribeSavingsPlans") != 1 {
		t.Errorf("calls: %d DescribeReservedInstances, %d DescribeSavingsPlans, want 1 each",
			api.Calls("DescribeReservedInstances"), api.Calls("DescribeSavingsPlans"))
	}
}

// TestAWSInstanceTypes: kwok reads the instance-types file, and its types carry the
// catalogue's shapes and prices.
func TestAWSInstanceTypes(t *testing.T) {
	data, err := localcluster.AWSInstanceTypes("eu-west-1", "m5.large", "c5.xlarge")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "types.json")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	table, err := localcluster.KwokPriceTable(file)
	if err != nil {
		t.Fatal(err)
	}
	book := cost.DefaultCatalogue()
	if len(table) != 2 {
		t.Fatalf("types %v, want m5.large and c5.xlarge", table)
	}
	for name, p := range table {
		shape, _ := book.Shape(name)
		od, _ := book.Price("eu-west-1", name, cost.OnDemand)
		spot, _ := book.Price("eu-west-1", name, cost.Spot)
		if p.OnDemand != od || p.Spot != spot || p.VCPU != int64(shape.VCPU) || p.MemoryGiB != shape.MemoryGiB || p.Arch != shape.Arch {
			t.Errorf("%s: kwok has %+v, the catalogue %+v at %v/%v", name, p, shape, od, spot)
		}
	}
	if _, err := localcluster.AWSInstanceTypes("eu-west-1", "no.such"); err == nil {
		t.Error("an unknown instance type was accepted")
	}
}

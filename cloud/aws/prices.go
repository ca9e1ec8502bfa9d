package aws

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	pricingtypes "github.com/aws/aws-sdk-go-v2/service/pricing/types"

	"github.com/ballast-dev/ballast/cloud"
)

// PricingEndpointRegion is where the Price List Query API is served from; it prices
// every region.
const PricingEndpointRegion = "us-east-1"

// spotBatch is how many instance types one DescribeSpotPriceHistory call asks for.
const spotBatch = 50

// PricingAPI is the part of the AWS Price List Query API the provider calls.
type PricingAPI interface {
	GetProducts(ctx context.Context, in *pricing.GetProductsInput, opts ...func(*pricing.Options)) (*pricing.GetProductsOutput, error)
}

// EC2API is the part of the EC2 API the provider calls.
type EC2API interface {
	DescribeSpotPriceHistory(ctx context.Context, in *ec2.DescribeSpotPriceHistoryInput, opts ...func(*ec2.Options)) (*ec2.DescribeSpotPriceHistoryOutput, error)
}

// Prices implements cloud.PriceSource with the Pricing GetProducts and EC2
// DescribeSpotPriceHistory APIs.
type Prices struct {
	pricing PricingAPI
	ec2     func(region string) EC2API
	now     func() time.Time
}

var _ cloud.PriceSource = (*Prices)(nil)

// NewPrices builds a price source from an SDK configuration: the Pricing client in
// PricingEndpointRegion and one EC2 client per region asked about. The
// configuration's retryer, endpoint and credentials apply to both.
func NewPrices(cfg awssdk.Config) *Prices {
	pc := pricing.NewFromConfig(cfg, func(o *pricing.Options) { o.Region = PricingEndpointRegion })
	return NewPricesFromClients(pc, func(region string) EC2API {
		return describeSpotPriceHistory(ec2Client(cfg, region).DescribeSpotPriceHistory)
	}, time.Now)
}

// NewPricesFromClients builds a price source from clients; now is the time Spot prices
// are asked for.
func NewPricesFromClients(p PricingAPI, ec2For func(region string) EC2API, now func() time.Time) *Prices {
	return &Prices{pricing: p, ec2: ec2For, now: now}
}

// priceListItem is the part of one Price List product the provider reads.
type priceListItem struct {
	Product struct {
		Attributes struct {
			InstanceType string `json:"instanceType"`
		} `json:"attributes"`
	} `json:"product"`
	Terms struct {
		OnDemand map[string]struct {
			PriceDimensions map[string]struct {
				Unit         string            `json:"unit"`
				PricePerUnit map[string]string `json:"pricePerUnit"`
			} `json:"priceDimensions"`
		} `json:"OnDemand"`
	} `json:"terms"`
}

// OnDemandPrices implements cloud.PriceSource: one paginated GetProducts query per
// instance type, filtered to Linux, shared tenancy, no pre-installed software and
// used capacity (not capacity reservations).
func (p *Prices) OnDemandPrices(ctx context.Context, region string, instanceTypes []string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, t := range dedupe(instanceTypes) {
		in := &pricing.GetProductsInput{
			ServiceCode:   awssdk.String("AmazonEC2"),
			FormatVersion: awssdk.String("aws_v1"),
			MaxResults:    awssdk.Int32(100),
			Filters: []pricingtypes.Filter{
				termMatch("regionCode", region),
				termMatch("instanceType", t),
				termMatch("operatingSystem", "Linux"),
				termMatch("tenancy", "Shared"),
				termMatch("preInstalledSw", "NA"),
				termMatch("capacitystatus", "Used"),
			},
		}
		pages := pricing.NewGetProductsPaginator(p.pricing, in)
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return nil, classify("pricing:GetProducts", fmt.Sprintf("the On-Demand price of %s in %s", t, region), err)
			}
			for _, doc := range page.PriceList {
				usd, err := onDemandUSD(doc, t)
				if err != nil {
					return nil, fmt.Errorf("failed to read the price list of %s in %s: %w", t, region, err)
				}
				if _, seen := out[t]; !seen && usd > 0 {
					out[t] = usd
				}
			}
		}
	}
	return out, nil
}

func termMatch(field, value string) pricingtypes.Filter {
	return pricingtypes.Filter{Type: pricingtypes.FilterTypeTermMatch, Field: awssdk.String(field), Value: awssdk.String(value)}
}

// onDemandUSD reads the hourly USD price of a price list item for the instance type;
// 0 when the item is for another type or has no hourly On-Demand price.
func onDemandUSD(doc, instanceType string) (float64, error) {
	var item priceListItem
	if err := json.Unmarshal([]byte(doc), &item); err != nil {
		return 0, fmt.Errorf("a price list item is not JSON: %w", err)
	}
	if item.Product.Attributes.InstanceType != instanceType {
		return 0, nil
	}
	for _, term := range item.Terms.OnDemand {
		for _, dim := range term.PriceDimensions {
			if dim.Unit != "Hrs" {
				continue
			}
			s, ok := dim.PricePerUnit["USD"]
			if !ok {
				continue
			}
			usd, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return 0, fmt.Errorf("price %q is not a number", s)
			}
			if usd > 0 {
				return usd, nil
			}
		}
	}
	return 0, nil
}

// SpotPrices implements cloud.PriceSource: DescribeSpotPriceHistory from now, in
// batches of instance types, paginated; for each type and zone the latest price, then
// the mean over the zones.
func (p *Prices) SpotPrices(ctx context.Context, region string, instanceTypes []string) (map[string]float64, error) {
	client := p.ec2(region)
	type key struct{ typ, zone string }
	latest := map[key]ec2types.SpotPrice{}
	types := dedupe(instanceTypes)
	for start := 0; start < len(types); start += spotBatch {
		batch := types[start:min(start+spotBatch, len(types))]
		in := &ec2.DescribeSpotPriceHistoryInput{
			StartTime:           awssdk.Time(p.now()),
			ProductDescriptions: []string{"Linux/UNIX"},
		}
		for _, t := range batch {
			in.InstanceTypes = append(in.InstanceTypes, ec2types.InstanceType(t))
		}
		pages := ec2.NewDescribeSpotPriceHistoryPaginator(client, in)
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return nil, classify("ec2:DescribeSpotPriceHistory", "Spot prices in "+region, err)
			}
			for _, sp := range page.SpotPriceHistory {
				k := key{string(sp.InstanceType), awssdk.ToString(sp.AvailabilityZone)}
				if old, ok := latest[k]; !ok || awssdk.ToTime(sp.Timestamp).After(awssdk.ToTime(old.Timestamp)) {
					latest[k] = sp
				}
			}
		}
	}
	sum, n := map[string]float64{}, map[string]int{}
	for k, sp := range latest {
		usd, err := strconv.ParseFloat(awssdk.ToString(sp.SpotPrice), 64)
		if err != nil {
			return nil, fmt.Errorf("the Spot price %q of %s in %s is not a number", awssdk.ToString(sp.SpotPrice), k.typ, k.zone)
		}
		sum[k.typ] += usd
		n[k.typ]++
	}
	out := make(map[string]float64, len(sum))
	for t, s := range sum {
		out[t] = s / float64(n[t])
	}
	return out, nil
}

func dedupe(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

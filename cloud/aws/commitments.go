package aws

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/savingsplans"
	sptypes "github.com/aws/aws-sdk-go-v2/service/savingsplans/types"

	"github.com/ballast-dev/ballast/cloud"
)

// ReservedInstancesAPI is the part of the EC2 API the commitment source calls.
type ReservedInstancesAPI interface {
	DescribeReservedInstances(ctx context.Context, in *ec2.DescribeReservedInstancesInput, opts ...func(*ec2.Options)) (*ec2.DescribeReservedInstancesOutput, error)
}

// SavingsPlansAPI is the part of the Savings Plans API the commitment source calls.
type SavingsPlansAPI interface {
	DescribeSavingsPlans(ctx context.Context, in *savingsplans.DescribeSavingsPlansInput, opts ...func(*savingsplans.Options)) (*savingsplans.DescribeSavingsPlansOutput, error)
}

// describeSavingsPlans is SavingsPlansAPI as one function, e.g. a client's method value
// (see ec2.go for why clients never become interface values).
type describeSavingsPlans func(ctx context.Context, in *savingsplans.DescribeSavingsPlansInput, opts ...func(*savingsplans.Options)) (*savingsplans.DescribeSavingsPlansOutput, error)

// DescribeSavingsPlans implements SavingsPlansAPI.
func (f describeSavingsPlans) DescribeSavingsPlans(ctx context.Context, in *savingsplans.DescribeSavingsPlansInput, opts ...func(*savingsplans.Options)) (*savingsplans.DescribeSavingsPlansOutput, error) {
	return f(ctx, in, opts...)
}

// linuxProducts are the Reserved Instance platforms that cover the Linux instances
// Karpenter launches. Reservations for Windows, Red Hat, SUSE or instances with SQL
// Server only cover instances of that platform, so they are left out.
var linuxProducts = map[ec2types.RIProductDescription]bool{
	ec2types.RIProductDescriptionLinuxUnix:          true,
	ec2types.RIProductDescriptionLinuxUnixAmazonVpc: true,
}

// Commitments implements cloud.CommitmentSource with EC2 DescribeReservedInstances (IAM
// action ec2:DescribeReservedInstances) and Savings Plans DescribeSavingsPlans (IAM
// action savingsplans:DescribeSavingsPlans). Callers should ask through
// cloud.CachedCommitments: commitments change when someone buys one, not between two
// reconciles.
type Commitments struct {
	ec2          func(region string) ReservedInstancesAPI
	savingsPlans func(region string) SavingsPlansAPI
	now          func() time.Time
}

var _ cloud.CommitmentSource = (*Commitments)(nil)

// NewCommitments builds a commitment source from an SDK configuration: an EC2 client and
// a Savings Plans client per region asked about, with the configuration's retryer,
// endpoint and credentials.
//
// Savings Plans are global. The Savings Plans client is built for the region asked
// about and the SDK's endpoint rules choose the endpoint: in the aws partition that is
// savingsplans.amazonaws.com, signed for us-east-1, whatever the region; other
// partitions (China) have their own endpoint.
func NewCommitments(cfg awssdk.Config) *Commitments {
	return NewCommitmentsFromClients(
		func(region string) ReservedInstancesAPI {
			return describeReservedInstances(ec2Client(cfg, region).DescribeReservedInstances)
		},
		func(region string) SavingsPlansAPI {
			c := savingsplans.NewFromConfig(cfg, func(o *savingsplans.Options) { o.Region = region })
			return describeSavingsPlans(c.DescribeSavingsPlans)
		},
		time.Now)
}

// NewCommitmentsFromClients builds a commitment source that asks about a region with the
// clients ec2For and savingsPlansFor return for it; now tells which commitments have
// ended.
func NewCommitmentsFromClients(ec2For func(region string) ReservedInstancesAPI, savingsPlansFor func(region string) SavingsPlansAPI,
	now func() time.Time) *Commitments {
	return &Commitments{ec2: ec2For, savingsPlans: savingsPlansFor, now: now}
}

// ReservedInstances implements cloud.CommitmentSource: one DescribeReservedInstances
// call (the API has no pages) filtered to state active. Of what it returns, only active
// reservations of a Linux/UNIX platform and default tenancy that have not ended are
// kept (dedicated and host tenancy reservations do not cover shared instances). They
// are sorted by instance type, zone and ID.
func (c *Commitments) ReservedInstances(ctx context.Context, region string) ([]cloud.ReservedInstance, error) {
	if region == "" {
		return nil, errors.New("failed to get Reserved Instances: no region")
	}
	in := &ec2.DescribeReservedInstancesInput{
		Filters: []ec2types.Filter{{Name: awssdk.String("state"), Values: []string{string(ec2types.ReservedInstanceStateActive)}}},
	}
	out, err := c.ec2(region).DescribeReservedInstances(ctx, in)
	if err != nil {
		return nil, classify("ec2:DescribeReservedInstances", "Reserved Instances in "+region, err)
	}
	now := c.now()
	var ris []cloud.ReservedInstance
	for _, ri := range out.ReservedInstances {
		end := awssdk.ToTime(ri.End)
		switch {
		case ri.State != ec2types.ReservedInstanceStateActive,
			!linuxProducts[ri.ProductDescription],
			ri.InstanceTenancy != "" && ri.InstanceTenancy != ec2types.TenancyDefault,
			!end.IsZero() && !end.After(now),
			awssdk.ToInt32(ri.InstanceCount) < 1:
			continue
		}
		zone := ""
		if ri.Scope == ec2types.ScopeAvailabilityZone {
			zone = awssdk.ToString(ri.AvailabilityZone)
		}
		ris = append(ris, cloud.ReservedInstance{
			ID:           awssdk.ToString(ri.ReservedInstancesId),
			InstanceType: string(ri.InstanceType),
			Count:        awssdk.ToInt32(ri.InstanceCount),
			Region:       region,
			Zone:         zone,
			End:          end,
		})
	}
	slices.SortFunc(ris, func(a, b cloud.ReservedInstance) int {
		return cmp.Or(cmp.Compare(a.InstanceType, b.InstanceType), cmp.Compare(a.Zone, b.Zone), cmp.Compare(a.ID, b.ID))
	})
	return ris, nil
}

// SavingsPlans implements cloud.CommitmentSource: DescribeSavingsPlans for state
// active, following nextToken. Of what it returns, only active Compute and EC2Instance
// plans that have not ended are kept (SageMaker and Database plans do not cover EC2
// instances). Every plan of the account is returned whatever its region; the caller
// keeps those that apply to its cluster. They are sorted by type, region, family and ID.
func (c *Commitments) SavingsPlans(ctx context.Context, region string) ([]cloud.SavingsPlan, error) {
	if region == "" {
		return nil, errors.New("failed to get Savings Plans: no region")
	}
	client := c.savingsPlans(region)
	now := c.now()
	in := &savingsplans.DescribeSavingsPlansInput{States: []sptypes.SavingsPlanState{sptypes.SavingsPlanStateActive}}
	var plans []cloud.SavingsPlan
	for seen := map[string]bool{}; ; {
		out, err := client.DescribeSavingsPlans(ctx, in)
		if err != nil {
			return nil, classify("savingsplans:DescribeSavingsPlans", "Savings Plans", err)
		}
		for _, sp := range out.SavingsPlans {
			plan, keep, err := savingsPlan(sp, now)
			if err != nil {
				return nil, err
			}
			if keep {
				plans = append(plans, plan)
			}
		}
		next := awssdk.ToString(out.NextToken)
		if next == "" {
			break
		}
		if seen[next] {
			return nil, fmt.Errorf("failed to get Savings Plans: the API returned the page token %q twice", next)
		}
		seen[next] = true
		in.NextToken = awssdk.String(next)
	}
	slices.SortFunc(plans, func(a, b cloud.SavingsPlan) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Region, b.Region), cmp.Compare(a.Family, b.Family), cmp.Compare(a.ID, b.ID))
	})
	return plans, nil
}

// savingsPlan converts a plan from the API; keep is false for a plan that is not active,
// not for EC2, or has ended by now.
func savingsPlan(sp sptypes.SavingsPlan, now time.Time) (plan cloud.SavingsPlan, keep bool, err error) {
	id := awssdk.ToString(sp.SavingsPlanId)
	var typ cloud.SavingsPlanType
	switch sp.SavingsPlanType {
	case sptypes.SavingsPlanTypeCompute:
		typ = cloud.ComputeSavingsPlan
	case sptypes.SavingsPlanTypeEc2Instance:
		typ = cloud.EC2InstanceSavingsPlan
	default:
		return plan, false, nil
	}
	if sp.State != sptypes.SavingsPlanStateActive {
		return plan, false, nil
	}
	var end time.Time
	if s := awssdk.ToString(sp.End); s != "" {
		if end, err = time.Parse(time.RFC3339, s); err != nil {
			return plan, false, fmt.Errorf("failed to read Savings Plan %s: its end %q is not an RFC 3339 time", id, s)
		}
		if !end.After(now) {
			return plan, false, nil
		}
	}
	perHour, err := strconv.ParseFloat(awssdk.ToString(sp.Commitment), 64)
	if err != nil || perHour < 0 {
		return plan, false, fmt.Errorf("failed to read Savings Plan %s: its commitment %q is not an amount", id, awssdk.ToString(sp.Commitment))
	}
	plan = cloud.SavingsPlan{ID: id, Type: typ, PerHour: perHour, Currency: string(sp.Currency), End: end}
	if typ == cloud.EC2InstanceSavingsPlan {
		plan.Family, plan.Region = awssdk.ToString(sp.Ec2InstanceFamily), awssdk.ToString(sp.Region)
		if plan.Family == "" || plan.Region == "" {
			return plan, false, fmt.Errorf("failed to read Savings Plan %s: an EC2 Instance plan without an instance family or region", id)
		}
	}
	return plan, true, nil
}

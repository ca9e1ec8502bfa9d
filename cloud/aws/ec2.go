package aws

import (
	"context"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// The EC2 client has some 800 operations and Ballast calls two. Once a program converts
// *ec2.Client to an interface, the linker must keep every exported method of it as soon
// as any reflective method lookup is reachable (text/template's execution and go-cmp
// have some; CONTRIBUTING.md, "Binary size", keeps them out of the program): with
// their serializers that is about a third of the binary. So the client never becomes
// an interface value, whether or not such a lookup creeps in: each operation the
// provider calls is a method value, which captures the client without exposing its
// type.

// ec2Client builds the EC2 client for region from cfg.
func ec2Client(cfg awssdk.Config, region string) *ec2.Client {
	return ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Region = region })
}

// describeSpotPriceHistory is EC2API as one function, e.g. a client's method value.
type describeSpotPriceHistory func(ctx context.Context, in *ec2.DescribeSpotPriceHistoryInput, opts ...func(*ec2.Options)) (*ec2.DescribeSpotPriceHistoryOutput, error)

// DescribeSpotPriceHistory implements EC2API.
func (f describeSpotPriceHistory) DescribeSpotPriceHistory(ctx context.Context, in *ec2.DescribeSpotPriceHistoryInput, opts ...func(*ec2.Options)) (*ec2.DescribeSpotPriceHistoryOutput, error) {
	return f(ctx, in, opts...)
}

// getSpotPlacementScores is PlacementScoresAPI as one function, e.g. a client's method
// value.
type getSpotPlacementScores func(ctx context.Context, in *ec2.GetSpotPlacementScoresInput, opts ...func(*ec2.Options)) (*ec2.GetSpotPlacementScoresOutput, error)

// GetSpotPlacementScores implements PlacementScoresAPI.
func (f getSpotPlacementScores) GetSpotPlacementScores(ctx context.Context, in *ec2.GetSpotPlacementScoresInput, opts ...func(*ec2.Options)) (*ec2.GetSpotPlacementScoresOutput, error) {
	return f(ctx, in, opts...)
}

// describeReservedInstances is ReservedInstancesAPI as one function, e.g. a client's
// method value.
type describeReservedInstances func(ctx context.Context, in *ec2.DescribeReservedInstancesInput, opts ...func(*ec2.Options)) (*ec2.DescribeReservedInstancesOutput, error)

// DescribeReservedInstances implements ReservedInstancesAPI.
func (f describeReservedInstances) DescribeReservedInstances(ctx context.Context, in *ec2.DescribeReservedInstancesInput, opts ...func(*ec2.Options)) (*ec2.DescribeReservedInstancesOutput, error) {
	return f(ctx, in, opts...)
}

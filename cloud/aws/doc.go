// Package aws implements the cloud interfaces with aws-sdk-go-v2: current On-Demand
// prices from the Price List Query API (GetProducts), Spot prices from EC2
// (DescribeSpotPriceHistory) and Spot placement scores from EC2
// (GetSpotPlacementScores), and commitments from EC2 (DescribeReservedInstances) and
// Savings Plans (DescribeSavingsPlans). It is the only package that imports the AWS service
// clients; errors reach callers as cloud's typed errors, without credentials.
package aws

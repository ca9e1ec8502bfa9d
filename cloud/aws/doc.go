// Package aws implements the cloud interfaces with aws-sdk-go-v2: current On-Demand
// prices from the Price List Query API (GetProducts), Spot prices from EC2
// (DescribeSpotPriceHistory) and Spot placement scores from EC2
// (GetSpotPlacementScores), and commitments from EC2 (DescribeReservedInstances) and
// Savings Plans (DescribeSavingsPlans); and the interruption queue from SQS
// (ReceiveMessage with long polling, DeleteMessage, GetQueueUrl). It is the only package
// of the controller and the CLI that imports the AWS service clients (localcluster's
// SQS stand-in, for tests, sends with one); errors reach callers as cloud's typed
// errors, without credentials.
package aws

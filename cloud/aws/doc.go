// Package aws implements the cloud interfaces with aws-sdk-go-v2: current On-Demand
// prices from the Price List Query API (GetProducts) and Spot prices from EC2
// (DescribeSpotPriceHistory). It is the only package that imports the AWS service
// clients; errors reach callers as cloud's typed errors, without credentials.
package aws

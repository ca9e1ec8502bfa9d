// Package cloud is what Ballast needs from AWS, as small interfaces and typed errors:
// for now the current prices of EC2 instance types and Spot placement scores, with a
// cache that keeps the scarce placement-score calls within AWS's limits. The
// aws-sdk-go-v2 implementation is in cloud/aws and a recording fake in cloud/fake;
// callers depend on this package only, so that they never import the AWS SDK.
package cloud

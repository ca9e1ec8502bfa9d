// Package cloud is what Ballast needs from AWS, as small interfaces and typed errors:
// the current prices of EC2 instance types, Spot placement scores (with a cache that
// keeps the scarce calls within AWS's limits) and the account's Reserved Instances and
// Savings Plans (with an hourly cache that keeps the last good answer through a failure,
// and the conversion into the cost model's commitments), and the queue of EC2
// interruption events with the parser of its EventBridge messages (interruptions.go:
// malformed and unknown messages as typed errors). The
// aws-sdk-go-v2 implementation is in cloud/aws and a recording fake in cloud/fake;
// callers depend on this package only, so that they never import the AWS SDK.
package cloud

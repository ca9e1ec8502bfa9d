// Package interruption steers new Spot capacity away from pools being reclaimed.
//
// The Consumer (consumer.go) reads EC2's interruption signals from Ballast's own SQS
// queue, which EventBridge rules feed (docs/interruptions.md): Spot interruption
// warnings, rebalance recommendations, instance state changes and scheduled changes.
// It hands each event to a handler once it has parsed it, and deletes every message
// it is done with, so that the queue never fills with what cannot be used.
package interruption

// Package fake is an in-memory cloud.PriceSource, cloud.PlacementScoreSource,
// cloud.CommitmentSource and cloud.InterruptionQueue for tests: each answers from
// tables (the queue from the messages sent to it), records every call, lets a test
// inject the next error, and resets between tests.
package fake

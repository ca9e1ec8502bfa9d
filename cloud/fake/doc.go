// Package fake is an in-memory cloud.PriceSource, cloud.PlacementScoreSource and
// cloud.CommitmentSource for tests: each answers from tables, records every call, lets
// a test inject the next error, and resets between tests.
package fake

// Package fake is an in-memory cloud.PriceSource and cloud.PlacementScoreSource for
// tests: each answers from tables, records every call, lets a test inject the next
// error, and resets between tests.
package fake

// Package render turns a validated ClusterPolicy and its WorkloadDistributionRules into
// the Kubernetes objects that run them: Karpenter's EC2NodeClass and NodePools, and the
// defaulted policy objects the runtime controllers read.
//
// Rendering is pure and deterministic: it never reads the clock, the environment or the
// network, it never mutates its input, and the same Input always marshals to the same
// bytes. The only time it depends on is Input.Now, which decides the UTC offsets that
// time-zoned maintenance windows are compiled with (see ballast.dev/windows-valid-until).
package render

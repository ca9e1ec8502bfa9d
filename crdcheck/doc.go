// Package crdcheck checks objects against CustomResourceDefinitions offline, the way the
// API server's custom resource handler does on create: unknown fields are pruned
// (each one reported), defaults filled, then the OpenAPI schema, the list types and the
// CEL rules (x-kubernetes-validations) are evaluated with the Kubernetes libraries
// themselves, not a copy of the rules.
//
// Karpenter returns the checker of Karpenter's NodePool and EC2NodeClass, read from the
// CRDs embedded in the pinned github.com/aws/karpenter-provider-aws module: a Karpenter
// upgrade brings its rules along with no change here. Its CEL programs are compiled
// once per process.
//
// The package imports nothing of Ballast, so that render's tests and the command line
// can both use it.
package crdcheck

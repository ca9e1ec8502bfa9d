// Package rendering checks that everything Ballast renders is accepted, unchanged, by a
// real kube-apiserver with Karpenter's CRDs (schemas and CEL rules) installed.
package rendering

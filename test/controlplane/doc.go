// Package controlplane starts a real kube-apiserver and etcd for tests (through
// controller-runtime's envtest) with Ballast's and Karpenter's CRDs installed, building
// the binaries at their pinned versions when they are not cached yet.
package controlplane

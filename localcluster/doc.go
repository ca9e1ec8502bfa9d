// Package localcluster runs a whole Kubernetes cluster minus real machines as plain
// processes on 127.0.0.1, for `ballast dev` and the end-to-end tests: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok as the kubelet stand-in, and Karpenter
// with its kwok cloud provider offering Spot and On-Demand capacity; and what such a
// cluster syncs its policies from: a local Git server, or a real Gitea.
//
// A suite starts one cluster in TestMain and shares it; each test works in its own
// namespace. Every component logs to a file under the cluster's directory; Dump prints
// the logs when a test fails.
package localcluster

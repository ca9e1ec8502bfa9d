// Package trim keeps the manager's cache small: it strips every Pod, Node, workload,
// Namespace and NodeClaim the informers receive down to the fields Ballast's
// controllers and webhooks read (the cache holds every pod of the cluster on every
// replica), and guards the client that reads them against writes that would erase
// what the cache left out.
//
// What each kind keeps, and who reads it (the cache holds only the pods that have not
// run to completion: podstore.Unfinished):
//
//   - Pod, as the cache's compact record of it (podstore.Pod): name, namespace,
//     UID, resourceVersion, creation and deletion time, labels but the node's
//     topology (podstore.KeepsLabel), owner references, Ballast's annotations and
//     karpenter.sh/do-not-disrupt and kubernetes.io/config.mirror (distribution,
//     fallback, evict, bin-packing, cost);
//     spec.nodeName, nodeSelector, tolerations and the node affinity (placement,
//     capacity type, fit simulation, limits); each container's name, resources,
//     restartPolicy and host ports, overhead and pod-level resources (requests: cost,
//     bin-packing, limits); volumes that claim a PersistentVolumeClaim (bin-packing);
//     status.phase and, while the pod is not scheduled, the PodScheduled condition
//     without its message (pending and unschedulable pods: fallback, limits,
//     bin-packing).
//   - Node: metadata as above (every label: capacity type, instance type, zone, node
//     affinity), spec.taints and spec.unschedulable (fit simulation, bin-packing's own
//     taint), status.capacity and status.allocatable (cost, commitments, bin-packing).
//   - Deployment, StatefulSet, Job: metadata, replicas (parallelism), selector, and the
//     pod template's scheduling constraints and requests (distribution, cost).
//   - ReplicaSet: metadata, replicas and selector; the template only when no
//     Deployment controls it (such a ReplicaSet is a workload of its own).
//   - Namespace: metadata (the opt-in label, deletion).
//   - NodeClaim: metadata, status.capacity and the conditions without messages
//     (limits, fallback).
//
// Each trim function but Pod trims the object it is given in place and hands it back:
// the informer owns what it decoded, and a new struct of each object (1.2 KB a
// workload) would leave the decoded one beside it as garbage, the heap's spans of that
// size half empty once collected. Pod makes the record, a third of a pod's struct, and
// its spec is shared by the pods that have the same.
//
// Every other kind the cache holds loses only its managedFields, except NodePools,
// which stay whole: the limits controller reads their managedFields and the
// commitments controller copies a pool's template into the committed pool.
package trim

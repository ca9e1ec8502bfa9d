package distribution

import (
	"context"
	"encoding/json"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ballast-dev/ballast/controllers/internal/scope"
)

// DaemonSetWebhookPath is where the API server sends DaemonSet admissions.
const DaemonSetWebhookPath = "/mutate-apps-v1-daemonset"

// +kubebuilder:webhook:path=/mutate-apps-v1-daemonset,mutating=true,failurePolicy=ignore,sideEffects=None,groups=apps,resources=daemonsets,verbs=create;update,versions=v1,name=daemonsets.distribution.ballast.dev,admissionReviewVersions=v1,timeoutSeconds=3,reinvocationPolicy=Never

// DaemonSetTolerator is the mutating admission webhook that adds Ballast's Spot
// toleration to the pod template of every DaemonSet in scope. The DaemonSet controller
// decides from the template, not from the pods, whether a node should run a daemon pod,
// so a toleration added to the pods alone would leave node agents (log shippers,
// monitoring, security agents) off Ballast's tainted Spot nodes. A DaemonSet created
// before its namespace opted in gets the toleration at its next update.
type DaemonSetTolerator struct {
	// Client reads namespaces, usually from a cache.
	Client client.Reader
	// API reads a namespace the cache leaves out of scope, in case the cache has not
	// caught up with its opt-in label yet; nil trusts the cache.
	API client.Reader
	// Scope says which namespaces are placed.
	Scope scope.Scope
}

var _ admission.Handler = &DaemonSetTolerator{}

// Handle adds the toleration to a DaemonSet being created or updated.
func (d *DaemonSetTolerator) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Kind.Kind != "DaemonSet" || (req.Operation != "CREATE" && req.Operation != "UPDATE") {
		return admission.Allowed("not a DaemonSet creation or update")
	}
	in, why, err := admittedScope(ctx, d.Scope, d.Client, d.API, req.Namespace)
	if err != nil || !in {
		return admission.Allowed(why)
	}
	var ds appsv1.DaemonSet
	if err := json.Unmarshal(req.Object.Raw, &ds); err != nil {
		return admission.Allowed("undecodable DaemonSet left alone")
	}
	if !addSpotToleration(&ds.Spec.Template.Spec) {
		return admission.Allowed("tolerates Spot nodes already")
	}
	patched, err := json.Marshal(&ds)
	if err != nil {
		return admission.Allowed("DaemonSet not encodable; left alone")
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, patched)
}

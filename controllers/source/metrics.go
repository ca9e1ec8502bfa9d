package source

import (
	"time"

	"github.com/ballast-dev/ballast/metrics"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// recordSync sets the source's readiness series, and its last success time when the
// sync succeeded.
func recordSync(obj *v1alpha1.PolicySource, ready bool, now time.Time) {
	v := 0.0
	if ready {
		v = 1
		metrics.SourceLastApplied.WithLabelValues(obj.Namespace, obj.Name).Set(float64(now.Unix()))
	}
	metrics.SourceReady.WithLabelValues(obj.Namespace, obj.Name).Set(v)
}

// forgetSync deletes the series of a deleted source.
func forgetSync(obj *v1alpha1.PolicySource) {
	metrics.SourceReady.DeleteLabelValues(obj.Namespace, obj.Name)
	metrics.SourceLastApplied.DeleteLabelValues(obj.Namespace, obj.Name)
}

package interruption

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ballast-dev/ballast/metrics"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// observe sets the cluster's steering series from its status: the excluded types, and
// one history score per pool (the series of pools that left the history removed).
func observe(cluster string, st *v1alpha1.InterruptionsStatus, notices []Notice, now time.Time, halfLife time.Duration) {
	metrics.SpotExcludedTypes.WithLabelValues(cluster).Set(float64(len(st.ExcludedInstanceTypes)))
	metrics.SpotPoolInterruptions.DeletePartialMatch(prometheus.Labels{"cluster": cluster})
	for _, p := range st.Pools {
		metrics.SpotPoolInterruptions.WithLabelValues(cluster, p.InstanceType, p.Zone).Set(PoolScore(p, now, halfLife))
	}
	for _, n := range notices {
		metrics.SpotNotices.WithLabelValues(cluster, n.Reason).Inc()
	}
}

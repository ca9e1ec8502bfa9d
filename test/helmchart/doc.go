// Package helmchart renders the Helm chart (charts/ballast) with the real helm CLI,
// built once with hack/helm.sh and cached outside the repository, for the chart's
// tests: lint, the rendered objects users rely on, validation against a real API server,
// the controller under the chart's RBAC (here), and the chart's end-to-end suite
// (test/charte2e).
package helmchart

// Package charte2e installs Ballast from the Helm chart's rendered manifests on a whole
// cluster of its own (localcluster) and runs the real controller as the chart's
// ServiceAccount with the chart's flags: the webhook of the chart's configuration
// places pods, and the chart's RBAC lets the controller do its job. It is a package
// apart from test/e2e, which installs config/default under the same names.
package charte2e

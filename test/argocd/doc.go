// Package argocd runs Ballast's Argo CD health checks (config/argocd/health) the way
// Argo CD runs a health check from argocd-cm: gopher-lua with only the package, base
// and table libraries open (Argo CD adds os.time and os.date, which a health check has
// no business calling), a one-second deadline, the global obj set to a Lua table
// converted from the object's JSON, and the health read back from the table the script
// returns. Its tests check every branch of every script on fixtures as the API server
// returns them, keep config/argocd/argocd-cm.yaml in step with the scripts, build the
// config/argocd kustomize component, and run the config-management plugin's commands
// with the real ballast binary. End-to-end suites call Health on live objects.
package argocd

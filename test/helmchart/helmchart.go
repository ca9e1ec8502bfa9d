package helmchart

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	ssautils "github.com/fluxcd/pkg/ssa/utils"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ballast-dev/ballast/localcluster"
)

var (
	helmOnce sync.Once
	helmBin  string
	helmErr  error
)

// Helm returns the path of the helm binary, building it with hack/helm.sh when the
// cache lacks it.
func Helm() (string, error) {
	helmOnce.Do(func() { helmBin, helmErr = localcluster.HackScript(nil, "helm.sh") })
	return helmBin, helmErr
}

// Dir is the chart's directory.
func Dir() string { return filepath.Join(localcluster.RepoRoot(), "charts", "ballast") }

// Run runs helm with the arguments and returns its standard output, or an error that
// holds its standard error.
func Run(args ...string) ([]byte, error) {
	bin, err := Helm()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...) //nolint:gosec // the helm hack/helm.sh built
	// A helm home of its own: no user repositories, plugins or registry logins.
	home, err := os.MkdirTemp("", "ballast-helm-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(home) }()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("helm %v: %w\n%s", args, err, errOut.String())
	}
	return out.Bytes(), nil
}

// Release is one rendering of the chart.
type Release struct {
	// Name and Namespace of the release.
	Name, Namespace string
	// Values, as a values file would set them.
	Values map[string]any
	// IncludeCRDs renders crds/ too, as `helm install` creates them.
	IncludeCRDs bool
}

// run runs a helm command on the chart with the release's name, namespace and values
// (written to a temporary values file) and the extra arguments.
func (r Release) run(command string, extra ...string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "ballast-chart-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	data, err := json.Marshal(r.Values) // JSON is YAML
	if err != nil {
		return nil, err
	}
	values := filepath.Join(dir, "values.json")
	if err := os.WriteFile(values, data, 0o600); err != nil {
		return nil, err
	}
	args := []string{command}
	if command == "template" {
		args = append(args, r.Name)
	}
	args = append(args, Dir(), "--namespace", r.Namespace, "--values", values)
	return Run(append(args, extra...)...)
}

// Template renders the release with `helm template` and returns its objects.
func Template(r Release) ([]*unstructured.Unstructured, error) {
	out, err := TemplateYAML(r)
	if err != nil {
		return nil, err
	}
	return ssautils.ReadObjects(bytes.NewReader(out))
}

// TemplateYAML renders the release with `helm template` and returns its output.
func TemplateYAML(r Release) ([]byte, error) {
	if r.IncludeCRDs {
		return r.run("template", "--include-crds")
	}
	return r.run("template")
}

// Lint runs `helm lint --strict` with the release's values: warnings fail too.
func Lint(r Release) ([]byte, error) { return r.run("lint", "--strict") }

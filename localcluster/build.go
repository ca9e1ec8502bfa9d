package localcluster

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	kwokv1alpha1 "sigs.k8s.io/karpenter/kwok/apis/v1alpha1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

// module is this repository's Go module path.
const module = "github.com/ballast-dev/ballast"

// Scheme knows the Kubernetes built-in kinds, Ballast's kinds, and Karpenter's
// NodePool, NodeClaim, EC2NodeClass and KWOKNodeClass.
var Scheme = newScheme()

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, v1alpha1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	karpenter := schema.GroupVersion{Group: "karpenter.sh", Version: "v1"}
	s.AddKnownTypes(karpenter, &karpv1.NodePool{}, &karpv1.NodePoolList{}, &karpv1.NodeClaim{}, &karpv1.NodeClaimList{})
	metav1.AddToGroupVersion(s, karpenter)
	aws := schema.GroupVersion{Group: "karpenter.k8s.aws", Version: "v1"}
	s.AddKnownTypes(aws, &awsv1.EC2NodeClass{}, &awsv1.EC2NodeClassList{})
	metav1.AddToGroupVersion(s, aws)
	kwok := schema.GroupVersion{Group: "karpenter.kwok.sh", Version: "v1alpha1"}
	s.AddKnownTypes(kwok, &kwokv1alpha1.KWOKNodeClass{}, &kwokv1alpha1.KWOKNodeClassList{})
	metav1.AddToGroupVersion(s, kwok)
	return s
}

// RepoRoot returns the root of the Ballast repository the binaries are built from: the
// directory this file was compiled in, or, when that is gone (a binary built elsewhere,
// or with -trimpath), the nearest directory above the working directory whose go.mod is
// Ballast's. The hack/ build scripts and config/ live there.
func RepoRoot() string {
	_, file, _, _ := goruntime.Caller(0)
	if root := filepath.Clean(filepath.Join(filepath.Dir(file), "..")); isRepo(root) {
		return root
	}
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for {
		if isRepo(dir) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "."
		}
		dir = parent
	}
}

func isRepo(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, "go.mod")) //nolint:gosec // a go.mod
	return err == nil && bytes.HasPrefix(bytes.TrimSpace(data), []byte("module "+module+"\n"))
}

// HackScript runs one of the repository's build scripts (hack/<name>), which build and
// cache what a local cluster needs, and returns what it printed on stdout, trimmed: the
// path of what it built. Progress goes to progress when it is set.
func HackScript(progress func(string), name string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(RepoRoot(), "hack", name), args...) //nolint:gosec // the repository's own scripts
	var out, errOut bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errOut
	if progress != nil {
		cmd.Stderr = lineWriter{buf: &errOut, line: progress}
	}
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hack/%s failed: %w\n%s", name, err, errOut.String())
	}
	return strings.TrimSpace(out.String()), nil
}

// lineWriter keeps what is written and reports each line.
type lineWriter struct {
	buf  *bytes.Buffer
	line func(string)
}

func (w lineWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "go: downloading") {
			w.line(l)
		}
	}
	return len(p), nil
}

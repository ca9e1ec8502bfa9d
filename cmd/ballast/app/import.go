package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ballast-dev/ballast/policies"
)

// importOptions are the flags of ballast import.
type importOptions struct {
	files      []string
	kubeconfig string
	context    string
	cluster    string
	region     string
	role       string
	adopt      bool
	output     string
	force      bool

	// changed reports whether a flag was set.
	changed func(name string) bool
}

// importNeeds is what ballast import --kubeconfig may do.
const importNeeds = "ballast import needs list on nodepools.karpenter.sh and ec2nodeclasses.karpenter.k8s.aws"

func newImportCommand(s streams) *cobra.Command {
	o := &importOptions{}
	cmd := &cobra.Command{
		Use:   "import (-f FILE|DIR ... | --kubeconfig FILE / --context NAME) --cluster NAME --region REGION",
		Short: "Turn existing Karpenter NodePools and EC2NodeClasses into a ClusterPolicy",
		Long: `Import reads Karpenter's NodePools (karpenter.sh/v1) and EC2NodeClasses
(karpenter.k8s.aws/v1), from YAML files (-f, repeatable: files, or directories whose
.yaml and .yml files are read; multi-document, kubectl's List too; - is stdin) or from
a cluster (--kubeconfig / --context, found as kubectl finds them), and writes one
ClusterPolicy whose spec.nodePools and spec.nodeClasses hold their specs as Karpenter
stores them (with its CRD defaults filled in). ballast render of the policy gives the
same objects again, with Ballast's owner labels added.

With --adopt the objects keep their names, so Ballast takes over the running pools and
no node is replaced. Without it they are named ballast-<cluster>-<name> (and each
NodePool's nodeClassRef follows): new pools, whose nodes replace the old ones once the
old NodePools are deleted. A name that Ballast's default supply has (ballast-<cluster>,
ballast-<cluster>-on-demand, -spot, -committed) gets the suffix -imported.

spec.nodeClass, the launch configuration of Ballast's default supply, comes from the
first imported EC2NodeClass that launches Linux nodes (role or instance profile,
subnets, security groups, AMI alias), or --role.

Everything import changes, cannot carry or chooses is reported on stderr, one line
each, at file:line:column or "cluster: Kind/name": the objects' own labels and
annotations, unknown fields, renames, references to EC2NodeClasses not imported, values
that Karpenter's types write differently. The policy is validated and rendered before
it is written; nothing is written when there is an error.

Exit status: 0 when the policy is written (warnings allowed), 1 when the objects cannot
be imported, 2 on a usage error.`,
		Example: `  ballast import --context prod --cluster prod --region eu-west-1 --adopt -o policies/
  ballast import -f karpenter/ --cluster prod --region eu-west-1 --adopt > policies/clusters/prod.yaml
  kubectl get nodepools,ec2nodeclasses -o yaml | ballast import -f - --cluster prod --region eu-west-1`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.changed = func(name string) bool { return c.Flags().Changed(name) }
			return o.run(c.Context(), s, time.Now())
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.files, "filename", "f", nil, "a YAML file or a directory of them to import (repeatable; - is stdin)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "import from the API server of this kubeconfig (default: $KUBECONFIG, else ~/.kube/config)")
	f.StringVar(&o.context, "context", "", "import from this kubeconfig context (default: its current context)")
	f.StringVar(&o.cluster, "cluster", "", "the cluster's name in Ballast (required)")
	f.StringVar(&o.region, "region", "", "the cluster's AWS region (required)")
	f.StringVar(&o.role, "role", "", "the IAM role of the nodes of Ballast's default supply (default: the first imported EC2NodeClass's)")
	f.BoolVar(&o.adopt, "adopt", false, "keep the NodePools' and EC2NodeClasses' names, so that no node is replaced")
	f.StringVarP(&o.output, "output", "o", "", "write DIR/clusters/<cluster>.yaml instead of stdout")
	f.BoolVar(&o.force, "force", false, "overwrite the file --output would write")
	return cmd
}

func (o *importOptions) run(ctx context.Context, s streams, now time.Time) error {
	if ctx == nil {
		ctx = context.Background()
	}
	live := o.changed("kubeconfig") || o.changed("context")
	switch {
	case live && len(o.files) > 0:
		return usageError(s, "import either files (-f) or a cluster (--kubeconfig / --context), not both")
	case !live && len(o.files) == 0:
		return usageError(s, "say what to import: -f FILE or DIR, or --kubeconfig FILE / --context NAME for a cluster")
	case o.cluster == "":
		return usageError(s, "--cluster is required: the cluster's name in Ballast")
	case o.region == "":
		return usageError(s, "--region is required: the cluster's AWS region, e.g. eu-west-1")
	}
	target := ""
	if o.output != "" {
		target = filepath.Join(o.output, "clusters", o.cluster+".yaml")
		if _, err := os.Lstat(target); err == nil && !o.force {
			return usageError(s, "%s exists: give --force to overwrite it", target)
		}
	}
	var objects []*importObject
	var notes []importFinding
	var err error
	if live {
		objects, notes, err = o.readCluster(ctx)
	} else {
		objects, err = o.readFiles(s)
	}
	if err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			return err
		}
		return usageError(s, "%v", err)
	}
	out, findings := importPolicy(importInput{objects: objects, cluster: o.cluster, region: o.region, role: o.role, adopt: o.adopt, now: now})
	findings = append(notes, findings...)
	if !o.adopt && out != nil {
		findings = append(findings, importFinding{severity: importNote, message: fmt.Sprintf(
			"the objects are named ballast-%s-<name>: Karpenter launches nodes for the new NodePools, and the old NodePools' nodes are replaced when those are deleted; import with --adopt to keep the names and the nodes", o.cluster)})
	}
	for _, f := range findings {
		_, _ = fmt.Fprintln(s.err, f)
	}
	if out == nil {
		_, _ = fmt.Fprintf(s.err, "nothing written: %s\n", count(findings.errors(), "error", "errors"))
		return exitError{ExitFindings}
	}
	summary := fmt.Sprintf("ClusterPolicy %s: %s, %s", o.cluster, count(len(out.pools), "NodePool", "NodePools"), count(len(out.classes), "EC2NodeClass", "EC2NodeClasses"))
	if target == "" {
		if _, err := s.out.Write(out.yaml); err != nil {
			return err
		}
		_, _ = fmt.Fprintf(s.err, "imported %s\n", summary)
		return nil
	}
	if err := writeFileAtomic(target, out.yaml); err != nil {
		return err
	}
	_, _ = fmt.Fprintf(s.err, "wrote %s (%s)\n", target, summary)
	return nil
}

// readFiles reads the documents of -f, in order: each file, or each directory's .yaml
// and .yml files in lexical order, or stdin for -.
func (o *importOptions) readFiles(s streams) ([]*importObject, error) {
	var objects []*importObject
	var broken policies.Findings
	for _, path := range o.files {
		var repo *policies.Repository
		if path == "-" {
			data, err := io.ReadAll(io.LimitReader(s.in, policies.MaxFileSize+1))
			if err != nil {
				return nil, fmt.Errorf("failed to read stdin: %w", err)
			}
			repo = policies.LoadBytes("<stdin>", data)
		} else {
			var err error
			if repo, err = loadPath(path); err != nil {
				return nil, err
			}
		}
		for _, f := range repo.Findings {
			switch f.Rule {
			case policies.RuleYAMLSyntax, policies.RuleTooComplex, policies.RuleUnreadableFile:
				broken = append(broken, f)
			}
		}
		for _, d := range documents(repo) {
			obj, findings := d.Object()
			if len(findings) > 0 {
				broken = append(broken, findings...)
				continue
			}
			objects = append(objects, listItems(d, obj)...)
		}
	}
	if len(broken) > 0 {
		for _, f := range broken {
			_, _ = fmt.Fprintln(s.err, f)
		}
		_, _ = fmt.Fprintf(s.err, "nothing written: %s\n", count(len(broken), "error", "errors"))
		return nil, exitError{ExitFindings}
	}
	return objects, nil
}

// documents returns every document of a loaded tree in file and document order,
// whatever the loader made of it.
func documents(repo *policies.Repository) []*policies.Document {
	docs := slices.Clone(repo.Ignored)
	docs = append(docs, repo.Invalid...)
	for _, p := range repo.ClusterPolicies {
		docs = append(docs, p.Document)
	}
	for _, r := range repo.Rules {
		docs = append(docs, r.Document)
	}
	slices.SortStableFunc(docs, func(a, b *policies.Document) int {
		if a.File != b.File {
			return strings.Compare(a.File, b.File)
		}
		return a.Index - b.Index
	})
	return docs
}

// listItems returns the objects of a document: the items of a List (kubectl get -o
// yaml writes one), else the document's object.
func listItems(d *policies.Document, obj map[string]any) []*importObject {
	kind, _ := obj["kind"].(string)
	items, ok := obj["items"].([]any)
	if !ok || !strings.HasSuffix(kind, "List") {
		return []*importObject{{obj: obj, doc: d}}
	}
	var out []*importObject
	for i, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			m = map[string]any{}
		}
		out = append(out, &importObject{obj: m, doc: d, prefix: fmt.Sprintf("items[%d].", i)})
	}
	return out
}

// readCluster lists the cluster's EC2NodeClasses and NodePools.
func (o *importOptions) readCluster(ctx context.Context) ([]*importObject, []importFinding, error) {
	cfg, where, err := loadKubeconfig(o.kubeconfig, o.context, clusterRequestTimeout)
	if err != nil {
		return nil, nil, err
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("failed to reach the API server at %s: %w", where, err)
	}
	var objects []*importObject
	var notes []importFinding
	for _, l := range []struct {
		gvk  schema.GroupVersionKind
		what string
	}{
		{schema.GroupVersionKind{Group: nodeClassGroup, Version: karpenterV1, Kind: nodeClassKind + "List"}, "ec2nodeclasses"},
		{schema.GroupVersionKind{Group: nodePoolGroup, Version: karpenterV1, Kind: nodePoolKind + "List"}, "nodepools"},
	} {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(l.gvk)
		err := listPages(ctx, c, list, l.what, where, importNeeds, func() {
			for i := range list.Items {
				objects = append(objects, &importObject{obj: list.Items[i].Object})
			}
		})
		switch {
		case meta.IsNoMatchError(err) && l.what == "ec2nodeclasses":
			// Karpenter without its AWS provider (kwok, another cloud): the NodePools
			// refer to node classes Ballast does not render; they are kept as written.
			notes = append(notes, importFinding{severity: importWarning, message: fmt.Sprintf(
				"the cluster at %s serves no %s EC2NodeClass (Karpenter without its AWS provider?): importing its NodePools only", where, l.gvk.GroupVersion())})
			continue
		case meta.IsNoMatchError(err):
			return nil, nil, fmt.Errorf("the cluster at %s serves no %s %s: is Karpenter v1 installed? (before v1, upgrade Karpenter first)",
				where, l.gvk.GroupVersion(), strings.TrimSuffix(l.gvk.Kind, "List"))
		case err != nil:
			return nil, nil, err
		}
	}
	return objects, notes, nil
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, so that the file is either whole or not there.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("failed to create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".ballast-import-*")
	if err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil { //nolint:gosec // policy files are not secret
		_ = tmp.Close()
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	return nil
}

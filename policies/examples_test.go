package policies

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// exampleToday is the date the invalid examples are validated as of, so that
// expired-commitment has a fixed reference.
var exampleToday = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// untestableRules have no examples/invalid case, with the test that covers each instead.
var untestableRules = map[string]string{
	RuleTooComplex: "TestTooComplex (needs a generated document of 200,000 nodes)",
}

// renderedRules are found by checking what a policy renders to, which policies cannot
// do (render sits above it): their examples/invalid cases are run by the command line's
// tests, cmd/ballast/app TestInvalidExamplesRendered, with the check validate uses.
var renderedRules = map[string]bool{
	RuleKarpenterRejects: true,
}

// expectComment is "# expect: <rule-id>", for a finding at the comment's line, or
// "# expect: <rule-id> at <file>", for a finding about a whole file (no line) that
// cannot hold the comment itself, such as a dangling symbolic link.
var expectComment = regexp.MustCompile(`#\s*expect:\s*([a-z0-9-]+)(?:\s+at\s+(\S+))?`)

type expectation struct {
	rule, file string
	line       int
}

// expectations reads the "# expect: <rule-id>" comments of a case directory.
func expectations(t *testing.T, dir string) []expectation {
	t.Helper()
	var out []expectation
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		rel, _ := filepath.Rel(dir, p)
		sc := bufio.NewScanner(f)
		for line := 1; sc.Scan(); line++ {
			switch m := expectComment.FindStringSubmatch(sc.Text()); {
			case m == nil:
			case m[2] != "":
				out = append(out, expectation{rule: m[1], file: m[2]})
			default:
				out = append(out, expectation{rule: m[1], file: filepath.ToSlash(rel), line: line})
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestInvalidExamples checks that every case under examples/invalid yields exactly
// the finding its "# expect:" comment names, at that line, and no other error or warning.
func TestInvalidExamples(t *testing.T) {
	const root = "../examples/invalid"
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	cases, ran := 0, 0
	for _, e := range entries {
		if !e.IsDir() || renderedRules[e.Name()] {
			continue
		}
		cases++
		dir := filepath.Join(root, e.Name())
		t.Run(e.Name(), func(t *testing.T) {
			ran++
			exp := expectations(t, dir)
			if len(exp) != 1 {
				t.Fatalf("want exactly one '# expect: <rule-id>' comment in %s, found %d", dir, len(exp))
			}
			want := exp[0]
			if want.rule != e.Name() {
				t.Errorf("the case directory %s expects rule %s: name the directory after the rule", e.Name(), want.rule)
			}
			repo, err := Load(os.DirFS(dir), ".", "")
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, f := range repo.ValidateWith(Options{Today: exampleToday}) {
				switch {
				case f.Rule == want.rule && f.File == want.file && f.Line == want.line:
					found = true
					covered[f.Rule] = true
				case f.Severity == SeverityError || f.Severity == SeverityWarning:
					t.Errorf("unexpected finding: %s", f)
				}
			}
			if !found {
				t.Errorf("no %s finding at %s:%d", want.rule, want.file, want.line)
			}
		})
	}
	if ran < cases {
		t.Logf("%d of %d cases ran (-run filter): not checking that every rule has a case", ran, cases)
		return
	}
	for _, r := range Rules {
		if renderedRules[r.ID] {
			continue
		}
		if why, ok := untestableRules[r.ID]; ok {
			if covered[r.ID] {
				t.Errorf("rule %s has an example now: remove it from untestableRules", r.ID)
			}
			t.Logf("rule %s has no example; covered by %s", r.ID, why)
			continue
		}
		if !covered[r.ID] {
			t.Errorf("rule %s has no passing case in %s/%s", r.ID, root, r.ID)
		}
	}
}

// TestExamplesValidateClean checks that the example policy repository users copy has
// no error or warning.
func TestExamplesValidateClean(t *testing.T) {
	const root = "../examples/policies"
	if _, err := os.Stat(root); err != nil {
		t.Fatalf("the example policy repository %s is missing (%v): it must exist and validate cleanly", root, err)
	}
	repo, err := Load(os.DirFS(root), ".", "examples/policies")
	if err != nil {
		t.Fatal(err)
	}
	if len(repo.ClusterPolicies) == 0 {
		t.Errorf("%s has no ClusterPolicy", root)
	}
	for _, f := range repo.Validate() {
		if f.Severity != SeverityInfo {
			t.Errorf("%s", f)
		}
	}
}

// TestRuleCatalogue checks that rule ids are unique and described.
func TestRuleCatalogue(t *testing.T) {
	var ids []string
	for _, r := range Rules {
		if r.Description == "" || !strings.HasSuffix(r.Description, ".") {
			t.Errorf("rule %s: the description must be a sentence", r.ID)
		}
		if !slices.Contains([]Severity{SeverityError, SeverityWarning, SeverityInfo}, r.Severity) {
			t.Errorf("rule %s: unknown severity %q", r.ID, r.Severity)
		}
		if slices.Contains(ids, r.ID) {
			t.Errorf("rule %s is listed twice", r.ID)
		}
		ids = append(ids, r.ID)
	}
}

package source

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ballast-dev/ballast/controllers/internal/status"
	"github.com/ballast-dev/ballast/policies"
	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		in                   outcome
		ready                metav1.ConditionStatus
		reason               string
		reconciling, stalled bool
	}{
		{name: "success", in: outcome{Revision: "main@sha1:abc", Objects: 5},
			ready: metav1.ConditionTrue, reason: ReconciliationSucceededReason},
		{name: "fetch failure retries",
			in:    outcome{Failure: &stepError{Condition: SourceReadyCondition, Reason: ArtifactFailedReason, Err: errors.New("unreachable")}},
			ready: metav1.ConditionFalse, reason: ArtifactFailedReason, reconciling: true},
		{name: "validation failure stalls",
			in:    outcome{Failure: &stepError{Condition: ValidatedCondition, Reason: ValidationFailedReason, Err: errors.New("bad"), Stalled: true}},
			ready: metav1.ConditionFalse, reason: ValidationFailedReason, stalled: true},
		{name: "empty render stalls",
			in:    outcome{Failure: &stepError{Condition: AppliedCondition, Reason: EmptyRenderRefusedReason, Err: errors.New("empty"), Stalled: true}},
			ready: metav1.ConditionFalse, reason: EmptyRenderRefusedReason, stalled: true},
		{name: "apply failure retries",
			in:    outcome{Failure: &stepError{Condition: AppliedCondition, Reason: ApplyFailedReason, Err: errors.New("conflict")}},
			ready: metav1.ConditionFalse, reason: ApplyFailedReason, reconciling: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := summarize(tc.in)
			if s.Ready.Type != meta.ReadyCondition || s.Ready.Status != tc.ready || s.Ready.Reason != tc.reason {
				t.Errorf("Ready = %+v, want status %s reason %s", s.Ready, tc.ready, tc.reason)
			}
			if (s.Reconciling != nil) != tc.reconciling {
				t.Errorf("Reconciling = %+v, want present %t", s.Reconciling, tc.reconciling)
			}
			if (s.Stalled != nil) != tc.stalled {
				t.Errorf("Stalled = %+v, want present %t", s.Stalled, tc.stalled)
			}
			if s.Reconciling != nil && s.Reconciling.Status != metav1.ConditionTrue {
				t.Errorf("Reconciling status = %s", s.Reconciling.Status)
			}
		})
	}
}

func TestFindingsBounded(t *testing.T) {
	var fs policies.Findings
	for i := range 70 {
		fs = append(fs, policies.Finding{Position: policies.Position{File: "a.yaml", Line: i + 1}, Rule: "r", Severity: policies.SeverityWarning, Message: "w"})
	}
	fs = append(fs, policies.Finding{Position: policies.Position{File: "z.yaml", Line: 9, Column: 3}, Rule: "r", Severity: policies.SeverityError, Message: "boom"})
	got := findingsStatus(fs)
	if len(got) != maxFindings {
		t.Fatalf("kept %d findings, want %d", len(got), maxFindings)
	}
	if got[0].Severity != "error" || got[0].File != "z.yaml" {
		t.Errorf("first finding = %+v, want the error", got[0])
	}
	msg := findingsMessage(fs)
	if !strings.Contains(msg, "z.yaml:9:3: boom") || !strings.Contains(msg, "1 error") {
		t.Errorf("message = %q", msg)
	}
}

func TestFindingsTextBounded(t *testing.T) {
	huge := strings.Repeat("k", 100<<10)
	var fs policies.Findings
	for i := range 5 {
		fs = append(fs, policies.Finding{Position: policies.Position{File: huge + ".yaml", Line: i + 1}, Field: "spec." + huge,
			Rule: "unknown-field", Severity: policies.SeverityError, Message: fmt.Sprintf("unknown field %q", huge)})
	}
	for _, f := range findingsStatus(fs) {
		if len(f.Message) > status.MaxFindingMessage || len(f.File) > status.MaxFindingField || len(f.Field) > status.MaxFindingField ||
			!strings.Contains(f.Message, "(truncated, ") {
			t.Fatalf("finding of %d, %d and %d bytes: %.80s", len(f.Message), len(f.File), len(f.Field), f.Message)
		}
	}
	msg := findingsMessage(fs)
	if len(msg) > maxSummarized*maxSummary+200 || !strings.HasSuffix(msg, "; and 2 more") {
		t.Errorf("summary of %d bytes ending %q", len(msg), msg[max(0, len(msg)-40):])
	}

	ps := &v1alpha1.PolicySource{}
	ps.Status.Conditions = []metav1.Condition{{Type: "Ready", Message: "clone https://u:pw@h/r: " + huge}}
	ps.Status.Findings = append(findingsStatus(fs), make([]v1alpha1.PolicyFinding, 60)...)
	boundStatus(ps)
	if m := ps.Status.Conditions[0].Message; len(m) > status.MaxMessage || strings.Contains(m, "pw") {
		t.Errorf("condition message of %d bytes: %.80s", len(m), m)
	}
	if len(ps.Status.Findings) != maxFindings {
		t.Errorf("%d findings after boundStatus", len(ps.Status.Findings))
	}
}

func TestInventoryRoundTrip(t *testing.T) {
	r := ref{Namespace: "", Name: "ballast-c-spot", GVK: nodePoolGK.WithVersion("v1")}
	e := r.entry()
	if e.ID != "_ballast-c-spot_karpenter.sh_NodePool" || e.Version != "v1" {
		t.Fatalf("entry = %+v", e)
	}
	back, err := parseEntry(e)
	if err != nil || back != r {
		t.Fatalf("parseEntry = %+v, %v", back, err)
	}
	if _, err := parseEntry(e); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "a_b", "a_b_c_d_e", "ns__g_K"} {
		if _, err := parseEntry(v1alpha1ResourceRef(bad)); err == nil {
			t.Errorf("parseEntry(%q) succeeded", bad)
		}
	}
}

func TestPolicyRoot(t *testing.T) {
	for in, want := range map[string]string{"": ".", "./": ".", "./policies": "policies", "policies/": "policies", "a/b/../c": "a/c"} {
		if got := policyRoot(in); got != want {
			t.Errorf("policyRoot(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRequeue(t *testing.T) {
	now := time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC)
	r := &Reconciler{Now: func() time.Time { return now }}
	obj := &v1alpha1.PolicySource{Spec: v1alpha1.PolicySourceSpec{
		Interval: metav1.Duration{Duration: time.Hour}, RetryInterval: &metav1.Duration{Duration: 2 * time.Minute},
	}}
	retry := &stepError{Reason: ApplyFailedReason, Err: errors.New("x")}
	stalled := &stepError{Reason: ValidationFailedReason, Err: errors.New("x"), Stalled: true}
	for _, tc := range []struct {
		name    string
		failure *stepError
		at      time.Time
		want    time.Duration
	}{
		{name: "interval", want: time.Hour},
		{name: "retry", failure: retry, want: 2 * time.Minute},
		{name: "stalled waits for a new revision", failure: stalled, want: time.Hour},
		{name: "windows expire first", at: now.Add(10 * time.Minute), want: 10*time.Minute + time.Second},
		{name: "windows expire later", at: now.Add(2 * time.Hour), want: time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := r.result(context.Background(), obj, &syncState{requeueAt: tc.at}, outcome{Failure: tc.failure})
			if got.RequeueAfter != tc.want {
				t.Errorf("RequeueAfter = %s, want %s", got.RequeueAfter, tc.want)
			}
		})
	}
}

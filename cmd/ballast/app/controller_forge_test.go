package app

import (
	"strings"
	"testing"

	"github.com/ballast-dev/ballast/policies/v1alpha1"
)

func TestStatusSetterFor(t *testing.T) {
	for _, tc := range []struct {
		spec    v1alpha1.CommitStatusSpec
		wantErr string
	}{
		{v1alpha1.CommitStatusSpec{Provider: "github", Repository: "platform/policies"}, ""},
		{v1alpha1.CommitStatusSpec{Provider: "gitlab", Repository: "platform/policies"}, ""},
		{v1alpha1.CommitStatusSpec{Provider: "gitea", Repository: "platform/policies", Address: "https://gitea.example.com"}, ""},
		{v1alpha1.CommitStatusSpec{Provider: "gitea", Repository: "platform/policies"}, "needs statusWriteBack.commitStatus.address"},
		{v1alpha1.CommitStatusSpec{Provider: "bitbucket", Repository: "platform/policies"}, "unknown commit-status provider"},
	} {
		setter, err := statusSetterFor(tc.spec, "tok")
		switch {
		case tc.wantErr == "" && (err != nil || setter == nil):
			t.Errorf("%s: %v", tc.spec.Provider, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want %q", tc.spec.Provider, err, tc.wantErr)
		}
	}
}

package gitea_test

import (
	"testing"

	sdk "code.gitea.io/sdk/gitea"

	giteaserver "github.com/ballast-dev/ballast/test/gitea"
)

func sdkComment(body string) sdk.CreateIssueCommentOption {
	return sdk.CreateIssueCommentOption{Body: body}
}

func getComment(t *testing.T, srv *giteaserver.Server, token string, id int64) *sdk.Comment {
	t.Helper()
	c, _, err := srv.Client(t, token).GetIssueComment("ballast-bot", "policies", id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

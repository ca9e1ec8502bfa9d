// Command ballast validates, renders and applies GitOps cost-orchestration policy for
// Kubernetes clusters on AWS that provision nodes with Karpenter.
package main

import (
	"os"

	"github.com/ballast-dev/ballast/cmd/ballast/app"
)

func main() {
	os.Exit(app.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

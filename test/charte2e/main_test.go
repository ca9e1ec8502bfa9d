package charte2e

import (
	"context"
	"fmt"
	"os"
	"testing"

	"go.uber.org/zap/zapcore"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/ballast-dev/ballast/localcluster"
)

var (
	kube *localcluster.Cluster
	// ballast is the real controller binary, running as the chart's ServiceAccount.
	ballast *localcluster.Ballast
)

func TestMain(m *testing.M) {
	ctx := context.Background()
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	var err error
	if kube, err = localcluster.Start(ctx, localcluster.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, "failed to start the cluster:", err)
		os.Exit(1)
	}
	if err := installChart(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "failed to install Ballast from the chart:", err)
		kube.Dump(os.Stderr)
		if ballast != nil {
			ballast.Stop()
		}
		kube.Stop()
		os.Exit(1)
	}
	code := m.Run()
	if code != 0 {
		kube.Dump(os.Stderr)
		fmt.Fprintf(os.Stderr, "--- ballast controller (last 60 lines)\n%s\n", ballast.Log(60))
	}
	ballast.Stop()
	kube.Stop()
	os.Exit(code)
}

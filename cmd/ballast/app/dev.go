package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ballast-dev/ballast/devenv"
	"github.com/ballast-dev/ballast/localcluster"
)

type devOptions struct {
	policies, cluster, scenario, output, dir, forge string
	once, keep, demo                                bool
	interval                                        time.Duration
}

func newDevCommand(s streams) *cobra.Command {
	o := devOptions{}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole product on this machine and watch it work",
		Long: `Dev starts, on 127.0.0.1, a Kubernetes control plane, kwok nodes, real Karpenter with
its kwok provider, a Git server holding a policy repository (examples/policies, or
--policies DIR), and the real ballast controller under the RBAC Ballast ships, with a
PolicySource pointing at the repository; it deploys example workloads in opted-in
namespaces and shows, refreshed in place, the nodes by pool, capacity type and instance
type, each workload's desired and observed split, the fallback state, and the cost
against an all-On-Demand cluster. The first run builds the cluster's binaries (minutes);
later runs reuse them.

--scenario runs a story and prints its timeline: spot-outage (Spot runs out, replicas
fall back On-Demand, Spot returns, replicas move back), scale (every workload doubles
and shrinks back) or policy-change (a commit to the repository changes the cluster's
On-Demand percentage; the splits converge and the status file appears on the
ballast-status branch; with --forge gitea, also the controller's commit status on the
commit).

--forge gitea serves the repository from a real Gitea (built once, about 13 minutes)
instead of the local Git server, and the PolicySource also sets a commit status on
every commit it syncs. The default, auto, uses Gitea when it is built already (make
test builds it) and the local Git server otherwise.

Ctrl-C stops everything. --keep keeps it running after a scenario or --once and prints
how to reach it with kubectl.`,
		Example: `  make dev
  ballast dev --scenario spot-outage
  ballast dev --forge gitea --scenario policy-change
  ballast dev --once -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.scenario != "" && !slices.Contains(devenv.Scenarios, o.scenario) {
				return usageError(s, "--scenario %q: one of %s", o.scenario, strings.Join(devenv.Scenarios, ", "))
			}
			if !slices.Contains(devenv.Forges, o.forge) {
				return usageError(s, "--forge %q: one of %s", o.forge, strings.Join(devenv.Forges, ", "))
			}
			if o.output != "" && o.output != "json" {
				return usageError(s, "-o %q: only json", o.output)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return o.run(ctx, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.policies, "policies", "", "the policy tree to serve (default: examples/policies of this repository)")
	f.StringVar(&o.cluster, "cluster", "", "the ClusterPolicy to run (default: the first in the tree)")
	f.StringVar(&o.forge, "forge", devenv.ForgeAuto, "what serves the policy repository: "+strings.Join(devenv.Forges, ", ")+" (a real Gitea: the controller also sets commit statuses)")
	f.StringVar(&o.scenario, "scenario", "", "a story to run: "+strings.Join(devenv.Scenarios, ", "))
	f.StringVarP(&o.output, "output", "o", "", "json: print snapshots as JSON lines for scripts")
	f.StringVar(&o.dir, "dir", "", "keep the environment's state (logs, repository, kubeconfigs) in DIR (default: a temporary directory)")
	f.BoolVar(&o.once, "once", false, "print one snapshot once everything runs, then stop (or keep, with --keep)")
	f.BoolVar(&o.keep, "keep", false, "keep the environment running after --once or a scenario, until Ctrl-C")
	f.BoolVar(&o.demo, "demo-timings", true, "shorten the served policy's fallback and consolidation timings and drop its maintenance windows")
	f.DurationVar(&o.interval, "interval", time.Second, "how often the view refreshes")
	return cmd
}

func (o devOptions) run(ctx context.Context, s streams) error {
	started := time.Now()
	progress := func(line string) {
		_, _ = fmt.Fprintf(s.err, "[%5s] %s\n", time.Since(started).Round(time.Second), line)
	}
	// The controller is this very binary.
	if self, err := os.Executable(); err == nil {
		localcluster.BallastBinary = self
	}
	env, err := devenv.Start(ctx, devenv.Options{
		Dir: o.dir, Policies: o.policies, Cluster: o.cluster, Forge: o.forge, DemoTimings: o.demo, Progress: progress,
	})
	if err != nil {
		if env != nil {
			env.Stop()
		}
		return fmt.Errorf("ballast dev: %w", err)
	}
	defer env.Stop()
	progress(fmt.Sprintf("ready in %s: cluster %s, repository %s", time.Since(started).Round(time.Second), env.Cluster, env.Repo.URL))
	if o.keep || o.dir != "" {
		_, _ = fmt.Fprintf(s.err, "\n  export KUBECONFIG=%s\n  kubectl get clusterpolicy,nodepools,nodes\n  git clone %s  (user %s, password %s)\n",
			env.Kube.Kubeconfig, env.Repo.URL, env.Repo.Username, env.Repo.Password)
		if env.Gitea != nil {
			_, _ = fmt.Fprintf(s.err, "  open %s  (sign in as %s, password %s: the commits and their statuses)\n",
				env.Repo.WebURL, localcluster.GiteaAdmin, env.Gitea.AdminPassword)
		}
		_, _ = fmt.Fprintln(s.err)
	}
	var mu sync.Mutex
	var timeline []string
	done := make(chan error, 1)
	if o.scenario != "" {
		go func() {
			done <- env.Run(ctx, o.scenario, func(line string) {
				mu.Lock()
				timeline = append(timeline, line)
				mu.Unlock()
				if o.output != "" || !isTerminal(s) {
					_, _ = fmt.Fprintln(s.err, line)
				}
			})
		}()
	} else if o.once {
		go func() { done <- env.WaitSettled(ctx, 5*time.Minute) }()
	}
	tty := isTerminal(s) && o.output == ""
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	lastPlain := time.Time{}
	show := func() {
		v, err := env.Snapshot(ctx)
		if err != nil {
			return
		}
		switch {
		case o.output == "json":
			data, _ := json.Marshal(v)
			_, _ = fmt.Fprintln(s.out, string(data))
		case tty:
			var b bytes.Buffer
			b.WriteString("\x1b[H\x1b[2J")
			v.Write(&b)
			mu.Lock()
			if len(timeline) > 0 {
				b.WriteString("\nTimeline (" + o.scenario + ")\n")
				for _, l := range timeline {
					b.WriteString("  " + l + "\n")
				}
			}
			mu.Unlock()
			b.WriteString("\nCtrl-C stops everything.\n")
			_, _ = s.out.Write(b.Bytes())
		case time.Since(lastPlain) >= 10*time.Second:
			lastPlain = time.Now()
			v.Write(s.out)
			_, _ = fmt.Fprintln(s.out)
		}
	}
	finished := false
	for {
		select {
		case <-ctx.Done():
			progress("stopping every process")
			return nil
		case err := <-done:
			if err != nil {
				return fmt.Errorf("ballast dev: %w", err)
			}
			finished = true
			if o.once && !tty && o.output == "" {
				if v, err := env.Snapshot(ctx); err == nil {
					v.Write(s.out)
				}
			} else {
				lastPlain = time.Time{}
				show()
			}
			if !o.keep {
				progress("done; stopping every process")
				return nil
			}
		case <-tick.C:
			if o.once && !finished {
				continue
			}
			if !o.once || o.keep {
				show()
			}
		}
	}
}

func isTerminal(s streams) bool {
	f, ok := s.out.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) //nolint:gosec // a file descriptor
}

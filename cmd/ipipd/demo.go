package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ipipd/ipipd/internal/demo"
)

const demoUsage = `usage: ipipd demo [--keep] [--timeout 60s]

Builds the seed's three-node IPIP mesh on this machine in network namespaces
(node1 10.245.1.2, node2 10.245.1.3, node3 10.245.1.4 on one bridge), runs
one ipipd per node with a fallback tunnel and via-routes to the others,
pings every pair across the tunnels, prints one decoded outer+inner packet
and each node's counters, and removes everything. Needs root.
  --keep   leave the namespaces and daemons up to explore; prints how to clean up`

func demoCommand(args []string) int {
	fs := newFlags("demo", demoUsage)
	keep := fs.Bool("keep", false, "keep the namespaces")
	timeout := fs.Duration("timeout", 60*time.Second, "bound on the whole demo")
	if code := parse(fs, demoUsage, args); code >= 0 {
		return code
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ipipd demo: cannot find my own binary: %v\n", err)
		return exitFailure
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := demo.Run(ctx, demo.Options{Binary: self, Out: os.Stdout, Keep: *keep, Timeout: *timeout}); err != nil {
		fmt.Fprintf(os.Stderr, "ipipd demo: %v\n", err)
		return exitFailure
	}
	return exitOK
}

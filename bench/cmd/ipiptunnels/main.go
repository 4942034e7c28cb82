// Command ipiptunnels measures what ipipd costs per tunnel: it writes a
// config of N point-to-point tunnels with M routes spread over them, runs
// `ipipd run -c` in a network namespace of its own, and prints
//
//   - the time to ready (READY=1 on NOTIFY_SOCKET, sent once every device,
//     address and route is installed and the control socket answers),
//
//   - the daemon's RSS, peak RSS, OS threads and open descriptors then,
//
//   - the time a reload that changes one tunnel takes (SIGHUP to READY=1),
//
//   - the RSS and threads after a reload down to one tunnel,
//
//   - the time SIGTERM takes to remove everything.
//
//     go run ./bench/cmd/ipiptunnels -tunnels 1000 -routes 100000
//     go run ./bench/cmd/ipiptunnels -tunnels 10000 -routes 100000 -binary bin/ipipd
//
// It needs root and `ip`. Everything lives in the namespace
// "ipiptunnels-<pid>": a veth underlay u0 with the tunnels' local address
// 10.31.0.1 and a route to their remotes 10.32.0.0/16; it is deleted at the
// end, on errors and on Ctrl-C too.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

const usage = `usage: ipiptunnels [-tunnels N] [-routes M] [-binary PATH] [-timeout D] [-water] [-reloads N] [-cpuprofile FILE] [-print-config]`

func main() {
	fs := flag.NewFlagSet("ipiptunnels", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(os.Stderr, usage); fs.PrintDefaults() }
	var o options
	fs.IntVar(&o.tunnels, "tunnels", 100, "point-to-point tunnels, 1 to 60000")
	fs.IntVar(&o.routes, "routes", 1000, "routes spread over the tunnels, at most 1000000")
	fs.StringVar(&o.binary, "binary", "", "an ipipd binary (default: go build ./cmd/ipipd)")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "bound of each step (start, reload, stop)")
	fs.IntVar(&o.reloads, "reloads", 5, "one-tunnel reloads, 1 s apart; their median is reported")
	fs.BoolVar(&o.water, "water", false, "tun: water instead of the default offload backend")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write the measured daemon's CPU profile (start, reloads, stop) to `FILE`")
	printConfig := fs.Bool("print-config", false, "print the config and exit, to run ipipd on it by hand (in a namespace with u0 as above)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if err := o.check(); err != nil {
		fmt.Fprintf(os.Stderr, "ipiptunnels: %v\n%s\n", err, usage)
		os.Exit(2)
	}
	if *printConfig {
		fmt.Print(lab.ManyTunnels(o.tunnels, o.routes, 0, o.backend()))
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	r, err := measure(ctx, o, os.Stderr)
	if r != nil {
		r.print(os.Stdout)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ipiptunnels: %v\n", err)
		os.Exit(1)
	}
}

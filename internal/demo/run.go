package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Options configure Run.
type Options struct {
	// Binary is the ipipd binary run in each namespace as
	// `BINARY run -c FILE --control SOCK`, and queried with
	// `BINARY show [-s] --control SOCK`; the command passes os.Executable().
	Binary string
	// Out receives the narrative; nil discards it.
	Out io.Writer
	// Keep leaves the namespaces, the running daemons and their files in
	// place for exploration, and prints how to enter them and how to clean up.
	Keep bool
	// Timeout bounds the whole demo, clean-up excluded; 0 means 60 s.
	Timeout time.Duration
}

const (
	defaultTimeout = 60 * time.Second
	captureTimeout = 5 * time.Second // for one IPIP packet while a ping runs
)

// Run builds the seed's three-node tunl0 mesh in fresh network namespaces,
// runs ipipd on each node, pings every ordered pair across the tunnels,
// captures and decodes one IPIP packet, prints each daemon's counters and
// removes everything again: always, also on error, on ctx's cancellation and
// on a panic, unless o.Keep. It returns an error saying what failed and what
// to check; a cancelled ctx (Ctrl-C in the command) stops it early.
func Run(ctx context.Context, o Options) (err error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if err := checkPrereqs(o.Binary); err != nil {
		return err
	}
	if abs, aerr := filepath.Abs(o.Binary); aerr == nil {
		o.Binary = abs // the narrative's commands then work from any directory
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	d := &demo{o: o, topo: newTopology(newRunID())}
	// A deferred call runs while a panic unwinds too, so the namespaces
	// and daemons go away whatever happens, and the panic goes on after.
	defer func() { err = d.finish(parent, ctx, err) }()
	return d.run(ctx)
}

// demo is one run's state: what exists and so what finish must remove.
type demo struct {
	o       Options
	topo    *topology
	dir     string // configs, logs and control sockets
	daemons []*daemon
}

func (d *demo) printf(format string, args ...any) {
	fmt.Fprintf(d.o.Out, format, args...)
}

// run does the demo's steps in order; finish cleans up after it.
func (d *demo) run(ctx context.Context) error {
	t := d.topo
	d.printf("ipipd demo: the seed walkthrough's three-node tunl0 mesh, in network namespaces (run %s)\n\n", t.ID)

	dir, err := os.MkdirTemp("", NamePrefix+t.ID+"-")
	if err != nil {
		return fmt.Errorf("creating a temporary directory for configs and logs (check $TMPDIR): %w", err)
	}
	d.dir = dir
	if err := t.build(ctx); err != nil {
		return fmt.Errorf("building the demo's namespaces: %w", err)
	}
	d.printTopology()
	d.printPlan()

	d.printf("Starting one ipipd per node: ip netns exec NS %s run -c %s --control %s\n",
		d.o.Binary, filepath.Join(dir, "nodeN.yaml"), filepath.Join(dir, "nodeN.sock"))
	for _, n := range t.Nodes {
		dm := newDaemon(d.o.Binary, n, dir)
		d.daemons = append(d.daemons, dm)
		if err := dm.start(nodeConfig(n, t.Nodes), d.o.Keep); err != nil {
			return err
		}
	}
	for _, dm := range d.daemons {
		if err := dm.waitReady(ctx); err != nil {
			return fmt.Errorf("waiting for the daemons to set up: %w", err)
		}
		d.printf("  %s: ipipd is up (pid %d), %s is UP\n", dm.node.Name, dm.pid(), tunnelDev)
	}
	d.printKernelRoutes(ctx)

	// The remaining steps go on after a failure, so that the counters and
	// the logs printed at the end show where packets went.
	// An interruption (or the timeout) ends the demo at once instead: the
	// later steps would only fail on the cancelled context.
	var errs []error
	steps := []struct {
		name string
		do   func(context.Context) error
	}{
		{"the pings", d.pingAll},
		{"the capture", d.captureOne},
		{"reading the counters", d.printCounters},
	}
	for _, step := range steps {
		err := step.do(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("stopped during %s: %w", step.name, ctx.Err())
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		d.printLogs()
		return errors.Join(errs...)
	}
	d.printf("\nEvery node reached every other across the tunnels, through ipipd alone.\n")
	d.printWatch()
	return nil
}

// pingAll pings every ordered pair, one line each, and fails if any pair
// got no reply.
func (d *demo) pingAll(ctx context.Context) error {
	d.printf("\nPinging every pair across the tunnels (ip netns exec NS ping -c 2 -I SRC DST):\n")
	var failed []pingResult
	for _, from := range d.topo.Nodes {
		for _, to := range d.topo.Nodes {
			if from.Name == to.Name {
				continue
			}
			r := ping(ctx, from, to)
			if ctx.Err() != nil {
				return ctx.Err() // killed, not failed: say nothing about the tunnel
			}
			d.printf("  %s\n", r)
			if !r.OK() {
				failed = append(failed, r)
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d pings across the tunnels got no reply (%s): check the daemons' logs and the counters printed above",
			len(failed), len(d.topo.Nodes)*(len(d.topo.Nodes)-1), pairNames(failed))
	}
	return nil
}

// captureOne captures one IPIP packet arriving on node2's underlay link
// while node1 pings node2, and prints its decode and hex dump.
func (d *demo) captureOne(ctx context.Context) error {
	from, to := d.topo.node("node1"), d.topo.node("node2")
	d.printf("\nOne packet on the wire, captured on %s's %s while %s pings %s (as tcpdump -vn shows it):\n", to.Name, to.Link, from.Name, to.Name)
	c, err := openCapture(to.NS, to.Link)
	if err != nil {
		return err
	}
	defer c.close()

	// The socket is bound before the ping starts, so no packet is missed.
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	pinger := exec.CommandContext(pctx, "ip", pingArgs(from, to, 3)...)
	if err := pinger.Start(); err != nil {
		return fmt.Errorf("starting ping from %s for the capture: %w", from.Name, err)
	}
	defer pinger.Wait()
	defer stop() // deferred calls run last-in first-out: stop, then Wait

	pkt, err := c.next(ctx, captureTimeout)
	if err != nil {
		d.printf("    nothing: no IPIP packet arrived within %v (see the error at the end)\n", captureTimeout)
		return fmt.Errorf("%w: %s's ipipd sent nothing to %s while the ping ran; check its `show` counters", err, from.Name, to.Name)
	}
	text, err := decodeIPIP(pkt)
	if err != nil {
		return fmt.Errorf("decoding the captured packet: %w\n%s", err, indent(hexDump(pkt), "    "))
	}
	d.printf("%s\n", indent(text, "    "))
	d.printf("  the whole packet, in the hex form `ipipd explain` reads (saved as %s):\n%s\n", d.packetFile(), indent(hexDump(pkt), "    "))
	saved := fmt.Sprintf("# captured by ipipd demo on %s's %s while %s pinged %s;\n# ipipd explain -c %s %s\n%s\n",
		to.Name, to.Link, from.Name, to.Name, filepath.Join(d.dir, to.Name+".yaml"), d.packetFile(), hexDump(pkt))
	if err := os.WriteFile(d.packetFile(), []byte(saved), 0o644); err != nil {
		return fmt.Errorf("saving the captured packet: %w", err)
	}
	return nil
}

// printCounters copies each daemon's `ipipd show -s` output.
func (d *demo) printCounters(ctx context.Context) error {
	d.printf("\nCounters (ipipd show -s --control DIR/nodeN.sock, on each node):\n")
	var errs []error
	for _, dm := range d.daemons {
		out, err := dm.show(ctx, true)
		if err != nil {
			d.printf("  %s: `ipipd show` failed\n", dm.node.Name)
			errs = append(errs, fmt.Errorf("%s: reading the counters: %w", dm.node.Name, err))
			continue
		}
		d.printf("  %s:\n%s\n", dm.node.Name, indent(trimNewlines(out), "    "))
	}
	return errors.Join(errs...)
}

// printLogs prints the tail of every daemon's log; after a failure that is
// where the daemons say why, and the files are about to be removed.
func (d *demo) printLogs() {
	d.printf("\nThe daemons' logs:\n")
	for _, dm := range d.daemons {
		d.printf("  %s:\n%s\n", dm.node.Name, dm.logTail())
	}
}

// finish runs after run, also while a panic unwinds: it keeps everything
// and says how to explore it (Keep), or stops the daemons, deletes the
// namespaces and removes the files, and adds anything that failed there to
// err. It also says so when the demo ran out of time or was interrupted.
func (d *demo) finish(parent, ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		if parent.Err() != nil {
			err = fmt.Errorf("interrupted: %w", err)
		} else {
			err = fmt.Errorf("did not finish within %v (a slow machine may need a longer --timeout): %w", d.o.Timeout, err)
		}
	}
	if d.o.Keep {
		d.printKeep()
		return err
	}
	var errs []error
	stopped := 0
	for _, dm := range d.daemons {
		if dm.pid() != 0 {
			stopped++
		}
		if serr := dm.stop(); serr != nil {
			errs = append(errs, fmt.Errorf("stopping: %w", serr))
		}
	}
	namespaces := len(d.topo.created)
	if cerr := d.topo.close(); cerr != nil {
		errs = append(errs, cerr)
	}
	if d.dir != "" {
		if rerr := os.RemoveAll(d.dir); rerr != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", d.dir, rerr))
		}
	}
	if len(errs) > 0 {
		d.printf("\nCleaning up did not fully succeed (see the error).\n")
		return errors.Join(err, fmt.Errorf("cleaning up: %w", errors.Join(errs...)))
	}
	d.printf("\nCleaned up: stopped %d daemons, deleted %d namespaces, removed %s.\n", stopped, namespaces, d.dir)
	return err
}

package engine

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipipd/ipipd/internal/config"
	"github.com/ipipd/ipipd/internal/kernelview"
	"github.com/ipipd/ipipd/internal/netsetup"
	"github.com/ipipd/ipipd/internal/outer"
	"github.com/ipipd/ipipd/internal/rawsock"
	"github.com/ipipd/ipipd/tun"
)

// Options configure an Engine. The zero value is usable.
type Options struct {
	Logger *slog.Logger
	// ICMPRateLimit is the per-destination interval of ICMP port
	// unreachables, as net.ipv4.icmp_ratelimit (default 1 s; negative: off).
	ICMPRateLimit time.Duration
	// ReceiveBatch is the most packets one raw-socket read returns.
	ReceiveBatch int
	// Transmit is how outer packets leave: TransmitRaw (the default, ""
	// too), TransmitPacket or TransmitPacketGSO.
	Transmit string
}

// The ways outer packets can leave: package outer says what each skips.
const (
	TransmitRaw       = outer.Raw
	TransmitPacket    = outer.Packet
	TransmitPacketGSO = outer.PacketGSO // TCP super-packets whole (transmit_gso.go)
)

// Engine is the running datapath.
type Engine struct {
	log    *slog.Logger
	opts   Options
	state  atomic.Pointer[state]
	global Global

	mu       sync.Mutex // serialises Apply and Close: the control plane only
	runtimes map[string]*runtime
	// slots numbers the runtimes for the route table.
	slots routeSlots
	// outer owns every outer socket: receive, ICMP, the error reader, and
	// the transmit sockets it opens for each loop.
	outer    *outer.Bind
	recvDone chan struct{}
	errsDone chan struct{}
	closed   bool

	limitMu  sync.Mutex
	lastLogs map[string]time.Time
	// trim gives the heap back once the kernel's View settles after a
	// removal (heap_trim.go).
	trim heapTrim

	// pools lend batch buffers to the transmit loops, one pool per batch
	// size (transmit.go).
	poolsMu sync.Mutex
	pools   map[int]*batchPool

	// The kernel's view of ipipd's devices (package kernelview): the
	// watcher's newest View, and the follower that applies it (kernel.go).
	watcher    *kernelview.Watcher
	view       atomic.Pointer[kernelview.View]
	viewReady  chan struct{}
	followDone chan struct{}
	// cfg is the running config, applied again to make a device deleted
	// from outside; fatal reports what the engine cannot recover from.
	cfg   *config.Config
	fatal chan error

	// ns is what the kernel keeps per network namespace (netns.go).
	nsOnce sync.Once
	ns     *netns

	// tracer is set while `ipipd trace` runs.
	tracer atomic.Pointer[tracer]

	// newSender opens a transmit socket for a tunnel's loop, counting in c
	// what it counts; tests and benchmarks replace it.
	newSender func(tunnel, dev string, c *Counters) Sender
	// underlayMTU is the MTU of the route toward an outer destination
	// (netsetup.UnderlayMTU); tests replace it.
	underlayMTU func(dst netip.Addr, dev string) int
	// outerDevice is the ifindex the kernel routes an outer destination
	// out of (netsetup.OuterDevice), for the loop guard; nil in tests that
	// have no kernel.
	outerDevice func(dst netip.Addr, dev string) int
	// routeGateway is the gateway of the kernel's route to an inner
	// destination through a device (netsetup.RouteGateway), asked when the
	// route table does not hold it yet; nil in tests without a kernel.
	routeGateway func(dst netip.Addr, oif int) netip.Addr
	// linkMTU is a device's MTU by ifindex (netsetup.LinkMTU), for the
	// receive loop's test of merged packets; nil in tests without a kernel.
	linkMTU func(index int) int
}

// New opens the raw sockets and starts the receive loop with an empty
// state: no tunnel, so every packet is answered with ICMP port unreachable
// until Apply installs a config.
func New(opts Options) (*Engine, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ICMPRateLimit == 0 {
		opts.ICMPRateLimit = time.Second
	}
	if opts.ReceiveBatch == 0 {
		opts.ReceiveBatch = rawsock.DefaultBatchSize
	}
	e := &Engine{log: opts.Logger, opts: opts, runtimes: map[string]*runtime{}, lastLogs: map[string]time.Time{},
		viewReady: make(chan struct{}, 1), followDone: make(chan struct{}), fatal: make(chan error, 1)}
	e.newSender = e.openSender
	e.underlayMTU = netsetup.UnderlayMTU
	e.outerDevice = netsetup.OuterDevice
	e.routeGateway = netsetup.RouteGateway
	e.linkMTU = netsetup.LinkMTU
	empty, err := compile(&config.Config{}, nil)
	if err != nil {
		return nil, err
	}
	tables, err := empty.fileTables()
	if err != nil {
		return nil, err
	}
	e.state.Store(&state{tables: tables, index: map[*runtime]int{}})
	if e.outer, err = outer.Open(outer.Options{Logger: e.log, Transmit: opts.Transmit}); err != nil {
		return nil, err
	}
	// PacketGSO without its program is Packet: the loops ask the mode.
	e.opts.Transmit = e.outer.Mode()
	if e.watcher, err = kernelview.Start(kernelview.Options{Logger: e.log, Publish: e.kernelChanged}); err != nil {
		e.outer.StopReceiving()
		e.outer.Close()
		return nil, err
	}
	go e.follow()
	if loaded, why := netsetup.KernelIPIPLoaded(); loaded {
		e.log.Warn("the kernel's own ipip module is active here: it also processes every IPIP packet and may answer ICMP port unreachable or decapsulate duplicates; unload it (modprobe -r ipip) or keep tunl0 down", "evidence", why)
	}
	e.recvDone = make(chan struct{})
	go func() {
		defer close(e.recvDone)
		e.receive(e.outer.Receiver(), e.outer.ICMP(), newReceiveBuffers(opts.ReceiveBatch, opts.ICMPRateLimit))
	}()
	e.errsDone = make(chan struct{})
	go func() {
		defer close(e.errsDone)
		e.readOuterErrors(e.outer.Errors())
	}()
	return e, nil
}

// Apply installs cfg: the first call creates every tunnel, later calls
// (reloads) create, change and remove tunnels by name. Either all of cfg
// takes effect or, on error, the running config stays as it was, in the
// kernel too.
//
// A reload goes in steps that let a route or an address move between
// tunnels (or a tunnel be renamed) without an "exists" error, each undone
// in reverse if a later one fails:
//
//  1. open the TUN devices of new tunnels;
//  2. shrink: every running tunnel gives up the addresses and routes the
//     new config does not give it (a removed tunnel gives up all);
//  3. grow: every kept tunnel takes its new MTU, addresses and routes;
//  4. set up the new tunnels;
//  5. publish the new state, start the new transmit loops, remove the
//     tunnels that are gone.
//
// Apply cannot be cancelled; ApplyContext can.
func (e *Engine) Apply(cfg *config.Config) error {
	return e.ApplyContext(context.Background(), cfg)
}

// ApplyContext is Apply that gives up when ctx ends: between one tunnel's
// step and the next it checks ctx, and once ctx is done it undoes what it
// did, as for a failed step, and returns an error wrapping ctx.Err(). A
// reload of thousands of tunnels takes seconds; a SIGTERM meanwhile must
// not wait for all of it.
func (e *Engine) ApplyContext(ctx context.Context, cfg *config.Config) error {
	waited := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if d := time.Since(waited); d > 10*time.Millisecond {
		e.log.Debug("the config waited for the engine", "took", d.Round(time.Millisecond))
	}
	if e.closed {
		return errors.New("engine is closed")
	}
	if err := e.apply(ctx, cfg); err != nil {
		return err
	}
	e.cfg = cfg
	for _, w := range cfg.Warnings {
		e.log.Warn("the file is applied, but: " + w.Error())
	}
	return nil
}

// setUpUnderlay is the underlay MTU running tunnel t.Name was set up with,
// if its remote and dev are still t's (compile's known). Called with e.mu
// held.
func (e *Engine) setUpUnderlay(t config.Tunnel) (int, bool) {
	rt, ok := e.runtimes[t.Name]
	st := e.state.Load()
	if !ok || st == nil {
		return 0, false
	}
	i, ok := st.index[rt]
	if !ok {
		return 0, false
	}
	ts := &st.tunnels[i]
	if ts.config.Remote != t.Remote || ts.config.Dev != t.Dev || ts.pathMTU == 0 {
		return 0, false
	}
	return ts.pathMTU, true
}

// applyLocked is Apply with e.mu held.
func (e *Engine) applyLocked(cfg *config.Config) error {
	return e.apply(context.Background(), cfg)
}

// apply is ApplyContext with e.mu held.
func (e *Engine) apply(ctx context.Context, cfg *config.Config) error {
	steps := newStepTimer()
	applied := false
	defer func() {
		if applied {
			e.log.Debug("config applied", steps.attrs()...)
		} else {
			e.log.Debug("config not applied; its steps until then", steps.attrs()...)
		}
	}()
	p, err := compile(cfg, e.setUpUnderlay)
	if err != nil {
		return err
	}
	wanted := map[string]int{}
	for i := range p.tunnels {
		t := &p.tunnels[i].config
		wanted[t.Name] = i
		if rt, ok := e.runtimes[t.Name]; ok && rt.backend != t.TUN {
			return fmt.Errorf("%s:%d: tunnel %q: tun: changing the backend from %s to %s needs a restart of ipipd (a reload keeps the TUN device)", cfg.Path, t.Line, t.Name, rt.backend, t.TUN)
		}
		if rt, ok := e.runtimes[t.Name]; ok && rt.table != p.tunnels[i].table() {
			// The routes would have to move between tables, and the routes
			// a routing daemon keeps in the old one would stay there.
			return fmt.Errorf("%s:%d: tunnel %q: table: changing the routing table from %d to %d needs a restart of ipipd (or a new tunnel name)", cfg.Path, t.Line, t.Name, rt.table, p.tunnels[i].table())
		}
	}

	var undo []func()
	rollback := func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	// cancelled is checked before each tunnel's step: the undo list is
	// then whole, and rolling back leaves the running config.
	cancelled := func() error {
		if err := ctx.Err(); err != nil {
			rollback()
			return fmt.Errorf("stopped part-way, and undone: %w", err)
		}
		return nil
	}
	// 1. Devices for the new tunnels.
	opened := map[int]tun.Device{}
	for i := range p.tunnels {
		if _, ok := e.runtimes[p.tunnels[i].config.Name]; ok {
			continue
		}
		if err := cancelled(); err != nil {
			return err
		}
		dev, err := e.open(p, i)
		if err != nil {
			rollback()
			return err
		}
		opened[i] = dev
		undo = append(undo, func() { dev.Close() })
	}
	steps.done("compile_and_open")
	// 2 and 3. Shrink every running tunnel, then grow the kept ones.
	current := e.state.Load()
	// What the kernel holds now, read for this reload: the newest View may
	// be a moment behind (a down and up the notifications have not told
	// yet), and a tunnel is left alone only if the kernel holds all of it.
	view, fresh := e.view.Load(), false
	if e.watcher != nil && len(e.runtimes) > 0 {
		if v := e.watcher.Fresh(); v != nil {
			view, fresh = v, true
		}
	}
	steps.done("read_kernel")
	// Tunnels with nothing to change, whose kernel set-up the View shows
	// whole, are left alone in both steps: no netlink round trip. A reload
	// that changes one tunnel of 10 000 touches that one.
	untouched := untouched(e.runtimes, wanted, current, p, view)
	// What the new config claims of what the removed tunnels hold: made
	// when the first of them needs it.
	var claimed *claimed
	// The tunnels the shrink step changed: the View is older than that.
	shrunk := map[*runtime]bool{}
	steps.done("untouched")
	for _, step := range []string{"shrink", "grow"} {
		for name, rt := range e.runtimes {
			if untouched[rt] {
				continue
			}
			prev := current.tunnels[current.index[rt]].link()
			i, kept := wanted[name]
			if err := cancelled(); err != nil {
				return err
			}
			var next netsetup.Link
			switch {
			case step == "shrink" && kept:
				// Nothing to give up: the grow step's Update does all.
				if next = common(prev, p.tunnels[i].link()); sameLink(next, prev) {
					continue
				}
			case step == "shrink":
				// A removed tunnel's device goes in step 5 with all it
				// holds; here it gives up only what a tunnel of the new
				// config takes, so that it can move.
				if claimed == nil {
					claimed = claims(p, removedLinks(e.runtimes, wanted, current))
				}
				if next = unclaimed(prev, claimed); sameLink(next, prev) {
					continue
				}
			case kept:
				next = p.tunnels[i].link()
			default:
				continue
			}
			update := rt.setup.Update
			if kept && fresh && !shrunk[rt] && holds(view, rt, &current.tunnels[current.index[rt]]) {
				// The View, read behind a barrier and not changed since
				// by the shrink step (which may have taken the last
				// address, and the kernel every route with it), shows the
				// kernel holds all the tunnel had: nothing to read back.
				update = rt.setup.UpdateHeld
			}
			if err := update(next); err != nil {
				rollback()
				return fmt.Errorf("tunnel %q: %w", name, err)
			}
			if step == "shrink" {
				shrunk[rt] = true
			}
			rt, before := rt, prev
			undo = append(undo, func() {
				if err := rt.setup.Update(before); err != nil {
					e.log.Error("restoring the running config after a failed reload", "tunnel", rt.name, "err", err)
				}
			})
		}
	}
	steps.done("shrink_grow")
	// 4. Set up the new tunnels.
	var created []*runtime
	for i := range p.tunnels {
		dev, ok := opened[i]
		if !ok {
			p.tunnels[i].rt = e.runtimes[p.tunnels[i].config.Name]
			continue
		}
		if err := cancelled(); err != nil {
			return err
		}
		setup, err := netsetup.Apply(p.tunnels[i].link())
		if err != nil {
			rollback()
			return fmt.Errorf("tunnel %q: %w", p.tunnels[i].config.Name, err)
		}
		undo = append(undo, func() {
			// The device first: the kernel takes its addresses, routes and
			// sysctls with it, in one step rather than one per route, and
			// Remove then finds it gone.
			dev.Close()
			setup.Remove()
		})
		for _, w := range setup.TakeWarnings() {
			e.log.Warn(w, "tunnel", p.tunnels[i].config.Name)
		}
		index, err := deviceIndex(p.tunnels[i].config.Name)
		if err != nil {
			rollback()
			return err
		}
		rt := newRuntime(p.tunnels[i].config.Name, dev, setup)
		rt.slot = e.slots.take()
		undo = append(undo, func() { e.slots.give(rt.slot) })
		rt.backend = p.tunnels[i].config.TUN
		rt.ifindex, rt.table, rt.up = index, p.tunnels[i].table(), !p.tunnels[i].config.Down
		p.tunnels[i].rt = rt
		created = append(created, rt)
	}
	steps.done("set_up_new")
	// 5. Publish, with what the kernel holds for the kept devices.
	next, err := e.build(current, p.tunnels, e.view.Load())
	if err != nil {
		rollback()
		return err
	}
	e.state.Store(next)
	for _, rt := range created {
		e.runtimes[rt.name] = rt
		b := newTunnelBuffers(randomSeed())
		// Made here, not in the loop's goroutine: the reader's set-up
		// (an ioctl through the poller's RawConn) grew each loop's stack
		// for good, 5.8 KiB a tunnel, 57 MiB at 10 000 idle tunnels.
		b.whole = e.gsoReader(rt)
		go e.transmit(rt, b)
	}
	var gone []*runtime
	for name, rt := range e.runtimes {
		if _, kept := wanted[name]; !kept {
			delete(e.runtimes, name)
			e.slots.give(rt.slot)
			gone = append(gone, rt)
		}
	}
	steps.done("publish")
	e.destroyAll(gone)
	steps.done("remove")
	if len(gone)+len(created) >= manyTunnelsChanged {
		// What the removed tunnels held and what building the new ones
		// left behind go back to the system now, not over minutes as the
		// runtime's scavenger would: measured at 3 000 tunnels, 244 MiB
		// 2 s after a reload down to one tunnel, from 15 MiB with one
		// tunnel at start; at 10 000 tunnels, 261 MiB of idle heap kept
		// after the start, for 185 MiB in use.
		debug.FreeOSMemory()
		steps.done("free_memory")
	}
	if len(gone)+len(created) >= manyTunnelsChanged {
		// The watcher follows what the apply made or removed after it
		// returned: at a start of 10 000 tunnels, RSS went from 275 MiB at
		// READY=1 to 451 MiB a second later, and stayed.
		e.trim.arm()
	}
	for _, rt := range e.runtimes {
		for _, w := range rt.setup.TakeWarnings() {
			e.log.Warn(w, "tunnel", rt.name)
		}
	}
	e.watchDevices()
	applied = true
	return nil
}

// manyTunnelsChanged is how many tunnels an apply creates or removes
// before it hands the heap back to the system at once: a collection of the
// whole heap, 85-117 ms with 10 000 tunnels, which a reload adding or
// removing one of them need not wait for; the runtime's scavenger returns
// what a few tunnels leave.
const manyTunnelsChanged = 64

// open opens tunnel i's TUN device with the backend its config names.
func (e *Engine) open(p *compiled, i int) (tun.Device, error) {
	t := &p.tunnels[i].config
	var dev tun.Device
	var err error
	switch t.TUN {
	case config.TUNOffload:
		dev, err = tun.OpenGSO(t.Name, p.tunnels[i].tunMTU)
	default:
		dev, err = tun.OpenWater(t.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("tunnel %q: %w", t.Name, err)
	}
	return dev, nil
}

// openSender opens the transmit socket of a tunnel's loop through the
// outer Bind, which counts in c what a packet socket sends and hands on.
func (e *Engine) openSender(tunnel, dev string, c *Counters) Sender {
	return e.outer.Sender(tunnel, dev, outer.Counts{Direct: &c.TxPacketSocket, Fallen: &c.TxRawFallback})
}

// destroy stops a tunnel's loop and removes its device and set-up: the
// device first, since the kernel deletes its addresses and routes with it,
// at once, where Remove would delete them one route at a time (100 000
// routes: minutes). Remove then finds the device gone and forgets the rest.
func (e *Engine) destroy(rt *runtime) {
	e.stop(rt)
	if err := rt.setup.Remove(); err != nil {
		e.log.Warn("removing the tunnel's addresses and routes", "tunnel", rt.name, "err", err)
	}
}

// destroyAll destroys the tunnels rts, their devices deleted first in one
// request (netsetup.DeleteLinks): closing each device's descriptor deletes
// it alone, about 30 a second, where one request deletes thousands in a
// fraction of a second. The routes through them go before them, many to a
// system call (netsetup.DeleteRoutes), since the kernel would otherwise walk
// its whole routing table once per device (10 000 devices over 100 000
// routes: 28 s, against about 5 s in all). The runtimes must be out of
// e.runtimes already, so that the follower does not take the deletions for
// ip link del.
func (e *Engine) destroyAll(rts []*runtime) {
	if len(rts) > 1 {
		start := time.Now()
		links := make([]netsetup.LinkRef, 0, len(rts))
		for _, rt := range rts {
			if rt.ifindex != 0 {
				links = append(links, netsetup.LinkRef{Index: rt.ifindex, Name: rt.name})
			}
		}
		routes := routesThrough(e.view.Load(), links)
		deleted, err := netsetup.DeleteRoutes(routes)
		if err != nil {
			e.log.Warn("deleting the routes of removed tunnels failed; the kernel deletes them with the devices", "err", err)
		}
		routesTook := time.Since(start)
		skipped, err := netsetup.DeleteLinks(links)
		if err != nil {
			e.log.Warn("deleting the devices of removed tunnels in one request failed; deleting them one by one", "tunnels", len(rts), "err", err)
		} else if len(skipped) > 0 {
			e.log.Warn("some devices of removed tunnels were not deleted in one request; deleting them one by one", "devices", len(skipped))
		}
		e.log.Debug("devices deleted in one request", "devices", len(links), "routes", deleted,
			"routes_took", routesTook.Round(time.Millisecond), "took", time.Since(start).Round(time.Millisecond))
	}
	start := time.Now()
	for _, rt := range rts {
		e.destroy(rt)
	}
	e.log.Debug("tunnels stopped and forgotten", "tunnels", len(rts), "took", time.Since(start).Round(time.Millisecond))
}

// routesThrough lists the routes v shows through the devices links, one
// key per route (a multipath route's hops through one device share it). A
// device the View names otherwise is not the tunnel's (deleted from
// outside, its number given to another): its routes are left alone.
func routesThrough(v *kernelview.View, links []netsetup.LinkRef) []netsetup.RouteKey {
	if v == nil {
		return nil
	}
	var keys []netsetup.RouteKey
	seen := map[netsetup.RouteKey]bool{}
	for _, l := range links {
		if v.Links[l.Index].Name != l.Name {
			continue
		}
		for _, r := range v.Routes[l.Index] {
			k := netsetup.RouteKey{Index: l.Index, Table: r.Table, To: r.To, Metric: r.Metric}
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// stop closes a tunnel's device and waits for its transmit loop.
func (e *Engine) stop(rt *runtime) {
	rt.dev.Close()
	select {
	case <-rt.done:
	case <-time.After(5 * time.Second):
		e.log.Warn("transmit loop did not stop", "tunnel", rt.name)
	}
}

// Close stops every loop and removes every device, address and route the
// engine created.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	// The watcher first: the devices about to go are ipipd's own doing.
	e.watcher.Close()
	close(e.viewReady)
	gone := make([]*runtime, 0, len(e.runtimes))
	for name, rt := range e.runtimes {
		delete(e.runtimes, name)
		gone = append(gone, rt)
	}
	e.destroyAll(gone)
	e.trim.stop()
	e.outer.StopReceiving()
	<-e.recvDone
	<-e.errsDone
	return e.outer.Close()
}

// logLimited logs a per-packet condition at most once a second per message,
// so a flood cannot fill the log (tailscale's tstun does the same).
func (e *Engine) logLimited(msg string, args ...any) {
	now := time.Now()
	e.limitMu.Lock()
	last := e.lastLogs[msg]
	ok := now.Sub(last) >= time.Second
	if ok {
		e.lastLogs[msg] = now
	}
	e.limitMu.Unlock()
	if ok {
		e.log.Warn(msg, args...)
	}
}

func randomSeed() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

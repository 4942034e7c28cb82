package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/ipipd/ipipd/internal/lab"
)

// Overlay parameters.
const (
	vxlanDev = "vx0"
	vxlanMTU = 1450
	ipipDev  = "ipb0"
	ipipMTU  = 1480
)

// caseSpec is one way of joining A and B that the tests run over.
type caseSpec struct {
	name  string
	about string // one line for the report
	setup func(ctx context.Context, e *env) (*caseInstance, error)
}

// caseInstance is a case set up: the addresses the tests use and what to
// undo at the end.
type caseInstance struct {
	client, server string    // client in A, server in B
	daemons        []*daemon // the tunnel daemons (ipipd, wireguard-go), A then B, if any
	notes          []string
	teardown       func() error
}

// env is what the cases share during a run.
type env struct {
	topo      *topology
	binary    string // the ipipd binary; "" when binaryErr says why not
	binaryErr error
	// wireGuard is the wireguard-go binary; "" when wireGuardErr says why not.
	wireGuard    string
	wireGuardErr error
	dir          string // temporary files: configs and control sockets
}

var allCases = []caseSpec{
	{"veth", "plain veth between the namespaces: the ceiling", setupVeth},
	{"vxlan", "the kernel's VXLAN over the same veth: a kernel tunnel, the other ceiling (no ipip module here)", setupVXLAN},
	{"wireguard-go", "wireguard-go (the module version ipipd's go.mod requires), configured with wg: the userspace tunnel in Go people already run, and the baseline ipipd is measured against; MTU 1440", setupWireGuard},
	{"ipipd-naive", "ipipd, `tun: water` and `--receive-batch 1`: one packet per system call on the TUN and on both raw sockets", func(ctx context.Context, e *env) (*caseInstance, error) {
		return setupIPIPD(ctx, e, "water", "--receive-batch", "1")
	}},
	{"ipipd", "ipipd, `tun: offload` (batched TUN I/O with offloads, recvmmsg/sendmmsg batches), outer packets through the raw socket: the default", func(ctx context.Context, e *env) (*caseInstance, error) {
		return setupIPIPD(ctx, e, "offload")
	}},
	{"ipipd-packet", "ipipd as `ipipd`, with `--transmit packet`: outer packets as frames on a packet socket (no netfilter or xfrm on them)", func(ctx context.Context, e *env) (*caseInstance, error) {
		return setupIPIPD(ctx, e, "offload", "--transmit", "packet")
	}},
	{"ipipd-packet-gso", "ipipd as `ipipd-packet`, with `--transmit packet-gso`: TCP super-packets leave whole, one frame with a virtio-net header each, marked IPIP by a tcx program, for the kernel to carry whole over the veth", func(ctx context.Context, e *env) (*caseInstance, error) {
		return setupIPIPD(ctx, e, "offload", "--transmit", "packet-gso")
	}},
}

func caseNames() []string {
	n := make([]string, len(allCases))
	for i, c := range allCases {
		n[i] = c.name
	}
	return n
}

func findCase(name string) (caseSpec, bool) {
	for _, c := range allCases {
		if c.name == name {
			return c, true
		}
	}
	return caseSpec{}, false
}

func setupVeth(ctx context.Context, e *env) (*caseInstance, error) {
	return &caseInstance{client: underlayA, server: underlayB, teardown: func() error { return nil }}, nil
}

// setupVXLAN creates vx0 on each side: VNI 42, unicast to the peer's
// underlay address, UDP 4789, over the veth.
func setupVXLAN(ctx context.Context, e *env) (*caseInstance, error) {
	sides := e.topo.sides()
	addrs := [2]string{"192.168.99.1/24", "192.168.99.2/24"}
	teardown := func() error {
		var errs []error
		for _, s := range sides {
			if _, err := lab.Run(context.Background(), cmdTimeout, "ip", "-n", s.ns, "link", "del", vxlanDev); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	for i, s := range sides {
		steps := [][]string{
			{"-n", s.ns, "link", "add", vxlanDev, "type", "vxlan", "id", "42", "remote", s.peer, "local", s.addr, "dstport", "4789", "dev", s.dev},
			{"-n", s.ns, "link", "set", "dev", vxlanDev, "mtu", fmt.Sprint(vxlanMTU), "up"},
			{"-n", s.ns, "addr", "add", addrs[i], "dev", vxlanDev},
		}
		for _, st := range steps {
			if _, err := lab.Run(ctx, cmdTimeout, "ip", st...); err != nil {
				teardown()
				return nil, err
			}
		}
	}
	return &caseInstance{client: "192.168.99.1", server: "192.168.99.2", teardown: teardown}, nil
}

// setupIPIPD writes a point-to-point config per side and starts ipipd in
// each namespace with the given TUN backend and extra `run` flags.
func setupIPIPD(ctx context.Context, e *env, tun string, flags ...string) (*caseInstance, error) {
	if e.binary == "" {
		return nil, fmt.Errorf("no ipipd binary: %v", e.binaryErr)
	}
	sides := e.topo.sides()
	addrs := [2]string{"192.168.98.1/30", "192.168.98.2/30"}
	inst := &caseInstance{client: "192.168.98.1", server: "192.168.98.2"}
	inst.teardown = func() error {
		var errs []error
		for _, d := range inst.daemons {
			errs = append(errs, d.stop())
		}
		return errors.Join(errs...)
	}
	for i, s := range sides {
		cfg, err := writeDaemonConfig(e.dir, s, tun, ipipDev, addrs[i])
		if err != nil {
			inst.teardown()
			return nil, err
		}
		sock := fmt.Sprintf("%s/%s-%s.sock", e.dir, tun, strings.ToLower(s.name))
		d, err := startDaemon(ctx, s, e.binary, cfg, sock, flags...)
		if err != nil {
			inst.teardown()
			return nil, err
		}
		inst.daemons = append(inst.daemons, d)
	}
	for _, d := range inst.daemons {
		info := tunDetails(ctx, d.ns, d.dev)
		inst.notes = append(inst.notes, fmt.Sprintf("%s: TUN %s", d.side, info))
		if tun == "offload" && strings.Contains(info, "vnet_hdr off") {
			inst.notes = append(inst.notes, fmt.Sprintf("%s: %s", d.side, offloadInactive))
		}
		for _, l := range lab.TailLines(d.out.String(), 50) {
			if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") || strings.Contains(strings.ToLower(l), "fall") {
				inst.notes = append(inst.notes, fmt.Sprintf("%s: daemon log: %s", d.side, l))
			}
		}
	}
	return inst, nil
}

// offloadInactive is the note for a daemon asked for `tun: offload` whose
// TUN was opened without IFF_VNET_HDR: whatever it ran, it was not the
// offload backend.
const offloadInactive = "offload not active: `tun: offload` was accepted but the TUN has vnet_hdr off (the engine fell back to one packet per system call)"

var tunInfo = regexp.MustCompile(`tun type \S+(?: \S+ (?:on|off))*`)

// tunDetails returns the TUN part of `ip -d link show`, e.g.
// "tun type tun pi off vnet_hdr off persist off", which tells whether the
// device was opened with offloads (vnet_hdr on).
func tunDetails(ctx context.Context, ns, dev string) string {
	out, err := lab.Run(ctx, cmdTimeout, "ip", "-n", ns, "-d", "link", "show", "dev", dev)
	if err != nil {
		return "(unknown: " + err.Error() + ")"
	}
	if m := tunInfo.FindString(out); m != "" {
		return strings.TrimSpace(m)
	}
	return "(no tun details in ip -d link)"
}

package lab

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// LinkUpTimeout bounds the wait for new links to become operational.
const LinkUpTimeout = 10 * time.Second

// AddVeth connects two namespaces with a veth pair: aName in a with
// address aAddr and bName in b with bAddr, both up. A zero (invalid)
// prefix leaves that side without an address. The pair is created inside
// a with its peer placed directly into b, so it never appears in the host
// namespace. It returns once both ends run (see WaitRunning).
//
// Equivalent to:
//
//	ip -n A link add name aName index FAR type veth peer name bName netns B
//	ip -n A addr add aAddr dev aName && ip -n A link set dev aName up
//	ip -n B addr add bAddr dev bName && ip -n B link set dev bName up
func AddVeth(ctx context.Context, a *NS, aName string, aAddr netip.Prefix, b *NS, bName string, bAddr netip.Prefix) error {
	if err := a.IP(ctx, "link", "add", "name", aName, "index", FarIndex(), "type", "veth", "peer", "name", bName, "netns", b.name); err != nil {
		return err
	}
	if err := a.up(ctx, aName, aAddr); err != nil {
		return err
	}
	if err := b.up(ctx, bName, bAddr); err != nil {
		return err
	}
	if err := a.WaitRunning(ctx, aName); err != nil {
		return err
	}
	return b.WaitRunning(ctx, bName)
}

// Port is one member of a bridged LAN (see AddBridge).
type Port struct {
	Name   string       // the veth end in the hub, enslaved to the bridge
	Member *NS          // the member's namespace
	Link   string       // the member's end, inside Member
	Addr   netip.Prefix // the member's address; zero for none
}

// AddBridge builds a LAN in hub: a bridge with address addr (none if zero),
// STP off so that ports forward at once, and one veth per port between the
// hub and the member. It returns once every link runs.
//
// Equivalent to:
//
//	ip -n HUB link add name BRIDGE type bridge stp_state 0
//	ip -n HUB addr add ADDR dev BRIDGE && ip -n HUB link set dev BRIDGE up
//	ip -n HUB link add name PORT index FAR type veth peer name LINK netns MEMBER
//	ip -n HUB link set dev PORT master BRIDGE up
//	ip -n MEMBER addr add MEMBER_ADDR dev LINK && ip -n MEMBER link set dev LINK up
//	… one veth per port
func AddBridge(ctx context.Context, hub *NS, bridge string, addr netip.Prefix, ports ...Port) error {
	if err := hub.IP(ctx, "link", "add", "name", bridge, "type", "bridge", "stp_state", "0"); err != nil {
		return err
	}
	if err := hub.up(ctx, bridge, addr); err != nil {
		return err
	}
	names := []string{bridge}
	for _, p := range ports {
		names = append(names, p.Name)
		if err := hub.IP(ctx, "link", "add", "name", p.Name, "index", FarIndex(), "type", "veth", "peer", "name", p.Link, "netns", p.Member.name); err != nil {
			return err
		}
		if err := hub.IP(ctx, "link", "set", "dev", p.Name, "master", bridge, "up"); err != nil {
			return err
		}
		if err := p.Member.up(ctx, p.Link, p.Addr); err != nil {
			return err
		}
	}
	// Wait only after creating everything: the kernel brings pending links
	// up in one pass, so the waits overlap.
	if err := hub.WaitRunning(ctx, names...); err != nil {
		return err
	}
	for _, p := range ports {
		if err := p.Member.WaitRunning(ctx, p.Link); err != nil {
			return err
		}
	}
	return nil
}

// up gives a link its address (if valid) and sets it up.
func (ns *NS) up(ctx context.Context, link string, addr netip.Prefix) error {
	if addr.IsValid() {
		if err := ns.IP(ctx, "addr", "add", addr.String(), "dev", link); err != nil {
			return err
		}
	}
	return ns.IP(ctx, "link", "set", "dev", link, "up")
}

// WaitRunning waits until every named link of the namespace is
// operational, for at most LinkUpTimeout or until ctx ends.
//
// Why: a link set up is not yet usable. Its qdisc stays the dropping noop
// qdisc until the kernel's linkwatch work sees the carrier (linkwatch_do_dev
// → dev_activate), and a packet sent meanwhile (the first ARP request) is
// lost, the sender's retry coming a second later. See FarIndex.
func (ns *NS) WaitRunning(ctx context.Context, links ...string) error {
	return ns.Do(func() error {
		deadline := time.Now().Add(LinkUpTimeout)
		for {
			var down []string
			for _, name := range links {
				ifi, err := net.InterfaceByName(name)
				if err != nil {
					return fmt.Errorf("in %s: link %s: %w", ns, name, err)
				}
				if ifi.Flags&net.FlagRunning == 0 {
					down = append(down, name)
				}
			}
			if len(down) == 0 {
				return nil
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("in %s: links %s not running after %v; check `ip -n %s link`", ns, strings.Join(down, ", "), LinkUpTimeout, ns.name)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// FarIndex returns a random interface index far above the small ones the
// kernel hands out in order, for the side of a veth pair created locally,
// so the two ends never share an index. When they do (both are the first
// veth of a fresh namespace, index 2) the kernel treats their carrier
// change as not urgent (linkwatch_urgent_event) and applies it up to a
// second later, and the first packets sent meanwhile are dropped. A set
// index does not move the namespace's counter for later automatic ones.
func FarIndex() string {
	return strconv.Itoa(100000 + rand.IntN(1<<24))
}

// DisableIPv6 turns IPv6 off in the calling thread's network namespace
// (the files under /proc/sys/net belong to the namespace of the thread
// that opens them): ipipd's underlay is IPv4, and IPv6 router and listener
// solicitations would only add noise to captures and counters. A kernel
// without IPv6 has nothing to disable.
func DisableIPv6() error {
	for _, p := range []string{
		"/proc/sys/net/ipv6/conf/all/disable_ipv6",
		"/proc/sys/net/ipv6/conf/default/disable_ipv6",
	} {
		err := os.WriteFile(p, []byte("1"), 0)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("disabling IPv6 (%s): %w", p, err)
		}
	}
	return nil
}

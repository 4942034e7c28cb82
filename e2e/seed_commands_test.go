package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/lab"
)

// routeFollowTimeout is how long ipipd may take to follow a change of the
// kernel's routes through tunl0 (RTM_NEWROUTE, RTM_DELROUTE).
const routeFollowTimeout = time.Second

// TestSeedCommands runs the seed's walkthrough as an operator would on
// hosts without the ipip module: `ipipd run` with no file where the seed
// says `modprobe -v ipip`, then the seed's own commands, unchanged and in
// its order, on each node.
//
// Checked:
//   - with no file, ipipd creates tunl0 as `modprobe ipip` does: down,
//     MTU 1480, no address (a TUN device, so `ip -d link` says tun);
//   - `ip l set tunl0 up`, `ip l set tunl0 mtu 1480`, `ip a add IP/32 dev
//     tunl0` and `ip r add SUBNET via HOST dev tunl0 onlink` are all it
//     takes: node1 and node2 ping each other (`ping -c 2`, as the seed),
//     then node3 joins as the seed adds it and every pair pings;
//   - the routes drive the datapath: `ip route replace 192.168.42.0/24 via
//     10.245.1.4 dev tunl0 onlink` on node1 moves the outer destination of
//     packets to 192.168.42.0 to 10.245.1.4 on the wire within a second,
//     every later one too, and replacing it back restores the path.
func TestSeedCommands(t *testing.T) {
	lab.Require(t)
	requirePing(t)
	l := newLAN(t, 3)

	// On node1 and node2: modprobe -v ipip, then the seed's commands.
	daemons := make([]*daemon, 3)
	for i := range 2 {
		daemons[i] = startNoConfigDaemon(t, l.nodes[i], fmt.Sprintf("node%d", i+1))
		checkModprobeTunl0(t, l.nodes[i])
	}
	runSeed(t, l.nodes[0], seedScript(0, 1))
	runSeed(t, l.nodes[1], seedScript(1, 0))
	// "check they are connected through ipip. on node1", and back.
	seedPing(t, l.nodes[0], tunnelAddr(1))
	seedPing(t, l.nodes[1], tunnelAddr(0))
	if t.Failed() {
		t.FailNow()
	}

	// "We can add more nodes to the network."
	daemons[2] = startNoConfigDaemon(t, l.nodes[2], "node3")
	checkModprobeTunl0(t, l.nodes[2])
	runSeed(t, l.nodes[2], seedNode3Script)
	for i := range 2 {
		runSeed(t, l.nodes[i], "ip r add 192.168.43.0/24 via 10.245.1.4 dev tunl0 onlink\n")
	}
	// "on both node1 and node2: ping -c 2 192.168.43.0".
	seedPing(t, l.nodes[0], tunnelAddr(2))
	seedPing(t, l.nodes[1], tunnelAddr(2))
	pingAllPairs(t, l.nodes, 10*time.Second)
	if t.Failed() {
		t.FailNow()
	}
	for i, d := range daemons {
		if s := d.stats(t, "tunl0"); s.TxPackets == 0 || s.RxPackets == 0 {
			t.Errorf("node%d: ipipd's tunl0 counts tx_packets %d, rx_packets %d after the pings; the traffic did not go through ipipd", i+1, s.TxPackets, s.RxPackets)
		}
	}

	// ip route replace moves node1's packets to 192.168.42.0 to node3's
	// underlay address: a host that answers ARP and drops what it
	// decapsulates for 192.168.42.0 without a word (forwarding is off in
	// its namespace), so the change shows on the wire and nowhere else.
	// ARP for it is resolved beforehand, so the first packet to it leaves
	// as soon as ipipd sends it.
	if err := l.nodes[0].Ping(underlayAddr(2), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	capt := openSendCapture(t, l.nodes[0], "eth0")
	stop := sendUDPEvery(t, l.nodes[0], tunnelAddr(0), tunnelAddr(1), "", 20*time.Millisecond)
	defer stop()
	checkRouteFollowed(t, l.nodes[0], capt, "ip route replace 192.168.42.0/24 via 10.245.1.4 dev tunl0 onlink", tunnelAddr(1), underlayAddr(2), underlayAddr(1))
	checkRouteFollowed(t, l.nodes[0], capt, "ip route replace 192.168.42.0/24 via 10.245.1.3 dev tunl0 onlink", tunnelAddr(1), underlayAddr(1), underlayAddr(2))
	stop()
	if err := l.nodes[0].Ping(tunnelAddr(1), 10*time.Second); err != nil {
		t.Errorf("node1 → node2 after the route was replaced back: %v", err)
	}
}

// openSendCapture is openCapture for every protocol (ETH_P_ALL): a packet
// socket bound to one protocol sees only what the interface receives,
// while one bound to all sees what the host sends on it too (the kernel
// hands outgoing packets to ETH_P_ALL taps only, in dev_queue_xmit_nit).
// Reads return the network-layer packet; ARP and other non-IPv4 frames
// fail outerTo's checks.
func openSendCapture(t *testing.T, ns *lab.NS, ifname string) *capture {
	t.Helper()
	return openPacketSocket(t, ns, ifname, unix.ETH_P_ALL, ns.String()+"/"+ifname+" (sent and received)")
}

// seedScript is the seed's block for node i with dst_* pointing at node
// peer, minus `modprobe -v ipip` (the daemon is already running): its
// three variables, then its four commands, word for word.
func seedScript(i, peer int) string {
	return fmt.Sprintf(`ip=%s
dst_host=%s
dst_subnet=%s

ip l set tunl0 up
ip l set tunl0 mtu 1480
ip a add $ip/32 dev tunl0
ip r add $dst_subnet via $dst_host dev tunl0 onlink
`, tunnelAddr(i), underlayAddr(peer), tunnelSubnet(peer))
}

// seedNode3Script is the seed's block for node3, minus `modprobe -v ipip`.
const seedNode3Script = `ip=192.168.43.0
ip l set tunl0 up
ip l set tunl0 mtu 1480
ip a add $ip/32 dev tunl0
ip r add 192.168.41.0/24 via 10.245.1.2 dev tunl0 onlink
ip r add 192.168.42.0/24 via 10.245.1.3 dev tunl0 onlink
`

// runSeed runs a block of the seed's shell commands in ns with sh -e (the
// first failing command fails the test, with the trace of sh -x).
func runSeed(t *testing.T, ns *lab.NS, script string) {
	t.Helper()
	out := ns.Run(t, "sh", "-e", "-x", "-c", script)
	t.Logf("in %s:\n%s", ns, out)
}

// seedPing runs the seed's check, `ping -c 2 DST`, bounded by -W 2. Right
// after an `ip r add` the first request may find the route not yet
// followed (ipipd has up to a second), so one reply of two passes, as it
// does for ping's exit status.
func seedPing(t *testing.T, ns *lab.NS, dst netip.Addr) {
	t.Helper()
	out, ok := ping(ns, "-c", "2", dst.String())
	if !ok {
		t.Errorf("in %s: ping -c 2 %v: no reply:\n%s", ns, dst, out)
		return
	}
	t.Logf("in %s: ping -c 2 %v:\n%s", ns, dst, lastLines(out, 3))
}

// pingAllPairs pings every node's tunnel address from every other node,
// each ping bounded by timeout.
func pingAllPairs(t *testing.T, nodes []*lab.NS, timeout time.Duration) {
	t.Helper()
	for i, from := range nodes {
		for j := range nodes {
			if i == j {
				continue
			}
			if err := from.Ping(tunnelAddr(j), timeout); err != nil {
				t.Errorf("node%d → node%d (%v): %v", i+1, j+1, tunnelAddr(j), err)
			}
		}
	}
}

// startNoConfigDaemon runs `ipipd run --control SOCK` in ns, with no
// config file, as the stand-in for `modprobe ipip`, and waits until `ipipd
// show` answers. lab stops it at the end of the test.
func startNoConfigDaemon(t *testing.T, ns *lab.NS, name string) *daemon {
	t.Helper()
	d := &daemon{ns: ns, name: name, control: filepath.Join(t.TempDir(), name+".sock")}
	if len(d.control) > 100 { // sun_path holds 108 bytes
		t.Fatalf("control socket path %q is too long for a unix socket", d.control)
	}
	d.proc = ns.Start(t, ipipdBin, "run", "--control", d.control)
	d.waitReady(t)
	return d
}

// ipLink is what this file reads of `ip -d -j link show`.
type ipLink struct {
	Name     string   `json:"ifname"`
	Flags    []string `json:"flags"`
	MTU      int      `json:"mtu"`
	LinkInfo struct {
		Kind string `json:"info_kind"`
	} `json:"linkinfo"`
}

// ipAddrs is what this file reads of `ip -j addr show`.
type ipAddrs struct {
	AddrInfo []struct {
		Family string `json:"family"`
		Local  string `json:"local"`
	} `json:"addr_info"`
}

// checkModprobeTunl0 checks that tunl0 is as `modprobe ipip` leaves it
// (ip_tunnel_init_net's fallback device): present, down, MTU 1480 (1500 −
// 20, the module's default without an underlay device), no address. It is
// a TUN device, as `ip -d link` shows.
func checkModprobeTunl0(t *testing.T, ns *lab.NS) {
	t.Helper()
	var link ipLink
	deadline := time.Now().Add(readyTimeout)
	for {
		out, err := ns.Try("ip", "-d", "-j", "link", "show", "dev", "tunl0")
		if err == nil {
			var links []ipLink
			if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
				t.Fatalf("in %s: ip -d -j link show dev tunl0: %v: %s", ns, err, out)
			}
			link = links[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("in %s: no tunl0 %v after `ipipd run` with no config answered: %v", ns, readyTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if slices.Contains(link.Flags, "UP") {
		t.Errorf("in %s: tunl0 flags %v; `modprobe ipip` leaves it down", ns, link.Flags)
	}
	if link.MTU != 1480 {
		t.Errorf("in %s: tunl0 mtu %d; `modprobe ipip` gives it 1480", ns, link.MTU)
	}
	if link.LinkInfo.Kind != "tun" {
		t.Errorf("in %s: tunl0 is of kind %q in ip -d link; want tun (ipipd's device)", ns, link.LinkInfo.Kind)
	}
	out := ns.Run(t, "ip", "-j", "addr", "show", "dev", "tunl0")
	var addrs []ipAddrs
	if err := json.Unmarshal([]byte(out), &addrs); err != nil {
		t.Fatalf("in %s: ip -j addr show dev tunl0: %v: %s", ns, err, out)
	}
	for _, a := range addrs {
		if len(a.AddrInfo) > 0 {
			t.Errorf("in %s: tunl0 has addresses %+v; `modprobe ipip` gives it none", ns, a.AddrInfo)
		}
	}
}

// sendUDPEvery sends a small UDP datagram from src (an address of ns) to
// dst every interval until the returned stop is called (or 30 s passed),
// so that a capture sees where the packets to dst go at any moment. With
// dev set the socket is bound to that device (SO_BINDTODEVICE), and the
// kernel sends through it even without a route (it then takes dst as on
// link). stop may be called more than once; a cleanup calls it too.
func sendUDPEvery(t *testing.T, ns *lab.NS, src, dst netip.Addr, dev string, interval time.Duration) (stop func()) {
	t.Helper()
	var conn net.Conn
	err := ns.Do(func() error {
		d := net.Dialer{LocalAddr: &net.UDPAddr{IP: src.AsSlice()}}
		if dev != "" {
			d.Control = func(_, _ string, c syscall.RawConn) error {
				var err error
				if cerr := c.Control(func(fd uintptr) { err = unix.BindToDevice(int(fd), dev) }); cerr != nil {
					return cerr
				}
				return err
			}
		}
		var err error
		conn, err = d.Dial("udp4", netip.AddrPortFrom(dst, seedProbePort).String())
		return err
	})
	if err != nil {
		t.Fatalf("in %s: UDP socket %v → %v (device %q): %v", ns, src, dst, dev, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			// Errors (an ICMP error coming back, reported on the next
			// write of a connected socket) do not matter.
			conn.Write([]byte("ipipd route follow probe"))
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
			conn.Close()
		})
	}
	t.Cleanup(stop)
	return stop
}

// seedProbePort is the UDP destination port of sendUDPEvery's datagrams
// (nothing listens there).
const seedProbePort = 5001

// outerTo returns the outer destination of an outgoing IPIP packet whose
// inner destination is inner, and whether p is one.
func outerTo(p captured, inner netip.Addr) (netip.Addr, bool) {
	outer := header.IPv4(p.data)
	if !p.outgoing || len(p.data) < 40 || outer.Protocol() != header.ProtocolIPIP || !outer.IsValid(len(p.data)) {
		return netip.Addr{}, false
	}
	in := header.IPv4(outer.Payload())
	if len(in) < 20 || in.DstAddr() != inner {
		return netip.Addr{}, false
	}
	return outer.DstAddr(), true
}

// checkRouteFollowed runs command (an `ip route replace` of the route to
// inner's subnet) in ns while packets to inner are being sent, and checks
// on capt (ns's underlay) that the first packet to the new outer
// destination want leaves within routeFollowTimeout of the command's
// return (by then the kernel has sent its RTM_NEWROUTE), and that for
// 300 ms afterwards none goes to old.
func checkRouteFollowed(t *testing.T, ns *lab.NS, capt *capture, command string, inner, want, old netip.Addr) {
	t.Helper()
	capt.drain()
	ns.Run(t, strings.Fields(command)...)
	changed := time.Now()
	_, err := capt.waitFor(routeFollowTimeout, func(p captured) bool {
		dst, ok := outerTo(p, inner)
		return ok && dst == want
	})
	if err != nil {
		t.Fatalf("in %s: `%s`: no outer packet to %v for %v on the wire within %v: %v\nip route: %s",
			ns, command, want, inner, routeFollowTimeout, err, ns.Run(t, "ip", "route", "show", "dev", "tunl0"))
	}
	t.Logf("in %s: `%s`: the first outer packet to %v left %v after the command returned", ns, command, want, time.Since(changed).Round(time.Millisecond))
	end := time.Now().Add(300 * time.Millisecond)
	seen := 0
	for {
		p, err := capt.next(end)
		if err != nil {
			break
		}
		dst, ok := outerTo(p, inner)
		if !ok {
			continue
		}
		seen++
		if dst != want {
			t.Errorf("in %s: after `%s` and a packet to %v, an outer packet for %v went to %v: %s", ns, command, want, inner, dst, hexHead(p.data))
		}
	}
	if seen == 0 {
		t.Errorf("in %s: after `%s`, no more outer packets for %v in 300 ms (one every 20 ms was sent)", ns, command, inner)
	}
}

// hexHead is the first 48 bytes of a packet in hex, for messages.
func hexHead(b []byte) string {
	return fmt.Sprintf("%x", b[:min(len(b), 48)])
}

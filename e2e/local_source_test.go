package e2e

import (
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// TestOwnAddressesStayOwn: an off-path host on the underlay (node3, which
// no route of node1 names) sends node1 IPIP packets whose inner source is
// one of node1's own addresses; the fallback tunnel takes them, as the
// kernel's tunl0 takes anything. None may be delivered.
//
// Kernel behaviour checked: the TUN, as tunl0, keeps accept_local=0, so
// IP input on it (ip_route_input_slow → fib_validate_source) drops an
// inner packet with a local source as a martian. ipipd counts it in
// rx_packets, as ip_tunnel_rcv counts it before IP input; the kernel counts
// the drop (in_martian_src of /proc/net/stat/rt_cache). The same packet
// with a source that is not local is delivered, so the path itself works.
func TestOwnAddressesStayOwn(t *testing.T) {
	lab.Require(t)
	l := newLAN(t, 3)
	d1 := startDaemon(t, l.nodes[0], "node1", fallbackConfig(0, []int{1}, "mtu: 1480"))
	if v := strings.TrimSpace(l.nodes[0].Run(t, "sysctl", "-n", "net.ipv4.conf.tunl0.accept_local")); v != "0" {
		t.Errorf("net.ipv4.conf.tunl0.accept_local is %s, want 0 (the kernel's default, which tunl0 has)", v)
	}
	const port = 5557
	rx := listenTOS(t, l.nodes[0], port)
	send := rawSender(t, l.nodes[2])

	inject := func(innerSrc netip.Addr, payload string) {
		t.Helper()
		inner := udpPacket(innerSrc, tunnelAddr(0), 4000, port, 0, 1, []byte(payload))
		if err := send.WritePacket(ipipPacket(underlayAddr(2), underlayAddr(0), 0, 1, inner)); err != nil {
			t.Fatalf("node3 sending an IPIP packet to node1: %v", err)
		}
	}

	// Control: a source that is not node1's is delivered through tunl0.
	inject(addr("192.168.42.7"), "not local")
	if got, _, err := rx.read(3 * time.Second); err != nil || got != "not local" {
		t.Fatalf("an inner packet from 192.168.42.7 through tunl0 was not delivered (%q, %v); the spoof checks below would prove nothing", got, err)
	}

	for _, own := range []netip.Addr{tunnelAddr(0), underlayAddr(0)} {
		before, martians := d1.stats(t, "tunl0"), martianSources(t)
		inject(own, "spoofed "+own.String())
		if got, _, err := rx.read(time.Second); err == nil {
			t.Errorf("node1 delivered %q, an inner packet claiming its own address %s as source", got, own)
		}
		after := d1.stats(t, "tunl0")
		if after.RxPackets != before.RxPackets+1 {
			t.Errorf("inner source %s: ipipd rx_packets grew by %d, want 1 (ip_tunnel_rcv counts it before IP input drops it)", own, after.RxPackets-before.RxPackets)
		}
		// The counter is the host's, not the namespace's: it can only
		// have grown.
		if m := martianSources(t); m <= martians {
			t.Errorf("inner source %s: the kernel's in_martian_src stayed at %d; the drop should be its martian check", own, m)
		}
	}
}

// martianSources sums in_martian_src over the CPUs of
// /proc/net/stat/rt_cache (per CPU, in hex; counted for the whole host).
func martianSources(t *testing.T) uint64 {
	t.Helper()
	data, err := os.ReadFile("/proc/net/stat/rt_cache")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	col := -1
	for i, f := range strings.Fields(lines[0]) {
		if f == "in_martian_src" {
			col = i
		}
	}
	if col < 0 {
		t.Fatalf("/proc/net/stat/rt_cache has no in_martian_src column: %q", lines[0])
	}
	var sum uint64
	for _, line := range lines[1:] {
		fields := strings.Fields(line)
		if col < len(fields) {
			v, _ := strconv.ParseUint(fields[col], 16, 64)
			sum += v
		}
	}
	return sum
}

// TestFragNeededUnderStrictRPFilter: ipipd's own frag needed, written into
// the TUN with the inner destination as source, reaches the local sender
// with a strict rp_filter on the host and the device, as it does with the
// namespace's default: the reverse route to its source is the tunnel
// itself (fib_validate_source with rp_filter 1 wants the same device).
func TestFragNeededUnderStrictRPFilter(t *testing.T) {
	node1, d1 := routedTunnel(t)
	node1.Run(t, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1", "net.ipv4.conf.ipip1.rp_filter=1")
	out := pingUntilFragNeeded(node1)
	if !strings.Contains(out, "From 192.168.62.1") || !strings.Contains(out, "Frag needed and DF set (mtu = 1280)") {
		t.Fatalf("with rp_filter=1, ping -M do -s 1400 never got ipipd's frag needed (mtu 1280, from the inner destination):\n%s", out)
	}
	if s := d1.stats(t, "ipip1"); s.ICMPSent == 0 {
		t.Errorf("node1 ipip1 ICMPSent %d, want the frag needed counted", s.ICMPSent)
	}
	if out, ok := ping(node1, "-c", "1", "-M", "do", "-s", "1252", "-I", "192.168.61.1", "192.168.62.1"); !ok {
		t.Errorf("with rp_filter=1, a 1280-byte DF ping on the 1300-byte path failed:\n%s", out)
	}
}

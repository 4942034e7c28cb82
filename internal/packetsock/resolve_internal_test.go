package packetsock

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ipipd/ipipd/internal/lab"
)

// The resolver asks the kernel for the one neighbour entry it needs, and
// its answer is the dump's: present with b's MAC address once ARP has run,
// absent for an address nobody resolved. The single-entry request is what
// this kernel (5.0 or later) answers; the dump stays as its fallback.
func TestResolverAsksForOneNeighbour(t *testing.T) {
	lab.Require(t)
	a, b := lab.New(t, "rsla"), lab.New(t, "rslb")
	addrA, addrB := netip.MustParseAddr("10.245.7.1"), netip.MustParseAddr("10.245.7.2")
	lab.Veth(t, a, "va", netip.PrefixFrom(addrA, 24), b, "vb", netip.PrefixFrom(addrB, 24))
	if err := a.Ping(addrB, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	mac, err := net.ParseMAC(strings.TrimSpace(b.Run(t, "cat", "/sys/class/net/vb/address")))
	if err != nil {
		t.Fatal(err)
	}
	ifindex := a.Ifindex(t, "va")
	err = inResolver(a, func(r *netlinkResolver) error {
		n, err := r.neighbour(ifindex, net.IP(addrB.AsSlice()))
		if err != nil || n == nil {
			t.Fatalf("the entry for %s: %v, %v", addrB, n, err)
		}
		if r.dumpNeighbours {
			t.Fatal("the kernel refused the single-entry request; the resolver fell back to dumps")
		}
		dumped, err := r.neighbourFromDump(ifindex, net.IP(addrB.AsSlice()))
		if err != nil || dumped == nil {
			t.Fatalf("the dump's entry for %s: %v, %v", addrB, dumped, err)
		}
		if !bytes.Equal(n.HardwareAddr, mac) || n.State != dumped.State || !bytes.Equal(n.HardwareAddr, dumped.HardwareAddr) {
			t.Errorf("single entry %s state %#x; dump %s state %#x; b's address %s", n.HardwareAddr, n.State, dumped.HardwareAddr, dumped.State, mac)
		}
		if n, err := r.neighbour(ifindex, net.IP{10, 245, 7, 99}); n != nil || err != nil || r.dumpNeighbours {
			t.Errorf("an address nobody resolved: %v, %v (dumping %v); want none, no error, no fallback", n, err, r.dumpNeighbours)
		}
		if p := r.Resolve(0x0af50702); !p.Usable || p.MAC != [6]byte(mac) || p.Ifindex != ifindex {
			t.Errorf("Resolve(%s) = %+v; want usable, to %s on ifindex %d", addrB, p, mac, ifindex)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkNeighbourLookup: one entry among 2000 on the device, asked for
// alone and found in a dump, as the resolver does once a second for each
// destination.
func BenchmarkNeighbourLookup(b *testing.B) {
	lab.Require(b)
	a, peer := lab.New(b, "nbla"), lab.New(b, "nblb")
	lab.Veth(b, a, "va", netip.MustParsePrefix("10.245.0.1/16"), peer, "vb", netip.MustParsePrefix("10.245.0.2/16"))
	var batch strings.Builder
	const entries = 2000
	for i := range entries {
		fmt.Fprintf(&batch, "neigh add 10.245.%d.%d lladdr 02:00:00:00:%02x:%02x nud permanent dev va\n", 1+i/250, 1+i%250, i>>8, i&0xff)
	}
	script := filepath.Join(b.TempDir(), "neigh.batch")
	if err := os.WriteFile(script, []byte(batch.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	a.Run(b, "ip", "-batch", script)
	ifindex := a.Ifindex(b, "va")
	hop := net.IP{10, 245, 5, 100} // the 1100th entry
	err := inResolver(a, func(r *netlinkResolver) error {
		for _, c := range []struct {
			name string
			get  func(int, net.IP) (*netlink.Neigh, error)
		}{{"single", r.neighbour}, {"dump", r.neighbourFromDump}} {
			b.Run(fmt.Sprintf("%s/%d", c.name, entries), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if n, err := c.get(ifindex, hop); n == nil || err != nil {
						b.Fatalf("%v, %v", n, err)
					}
				}
			})
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// inResolver runs fn in ns with a resolver whose netlink sockets are
// opened there.
func inResolver(ns *lab.NS, fn func(r *netlinkResolver) error) error {
	return ns.Do(func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		sock, err := neighbourSocket()
		if err != nil {
			return err
		}
		defer sock.Close()
		return fn(&netlinkResolver{h: h, neigh: sock})
	})
}

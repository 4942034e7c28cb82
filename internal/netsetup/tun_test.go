package netsetup

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"

	"github.com/ipipd/ipipd/tun"
)

// The routes Apply adds carry the kernel's packets into the TUN, from the
// device's addresses; after an Update drops a route, the kernel has no way
// there any more.
func TestAppliedRoutesCarryPacketsIntoTheTUN(t *testing.T) {
	lab.EnterFresh(t)
	_, dev := addDevice(t, testDevice, 1500)
	applied, err := Apply(seedLink())
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	defer applied.Remove()

	dst := netip.MustParseAddrPort("192.168.42.5:40000")
	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(dst))
	if err != nil {
		t.Fatalf("UDP socket toward %s: %v", dst, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("through the tunnel")); err != nil {
		t.Fatalf("send to %s: %v", dst, err)
	}
	pkt := readIPv4To(t, dev, dst.Addr())
	src := netip.AddrFrom4([4]byte(pkt[12:16]))
	if !slices.ContainsFunc(seedLink().Addresses, func(p netip.Prefix) bool { return p.Addr() == src }) {
		t.Errorf("the kernel sent from %s, want one of the device's addresses %v", src, seedLink().Addresses)
	}

	l := seedLink()
	l.Routes = routes("192.168.43.0/24")
	if err := applied.Update(l); err != nil {
		t.Fatalf("Update: %v", err)
	}
	gone, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(dst))
	if err == nil {
		gone.Close()
	}
	if !errors.Is(err, syscall.ENETUNREACH) {
		t.Errorf("connecting to %s after its route was dropped = %v, want network unreachable", dst, err)
	}
}

// readIPv4To reads from dev until an IPv4 packet to dst arrives.
func readIPv4To(t *testing.T, dev tun.Device, dst netip.Addr) []byte {
	t.Helper()
	found := make(chan []byte, 1)
	go func() {
		bufs := [][]byte{make([]byte, 2048)}
		sizes := []int{0}
		want := dst.As4()
		for {
			n, err := dev.Read(bufs, sizes, 0)
			if n == 1 && sizes[0] >= 20 && bufs[0][0]>>4 == 4 && bytes.Equal(bufs[0][16:20], want[:]) {
				found <- bytes.Clone(bufs[0][:sizes[0]])
				return
			}
			if err != nil {
				close(found)
				return
			}
		}
	}()
	select {
	case pkt, ok := <-found:
		if !ok {
			t.Fatalf("reading %s stopped before a packet to %s came", dev.Name(), dst)
		}
		return pkt
	case <-time.After(5 * time.Second):
		dev.Close()
		t.Fatalf("no packet to %s came out of %s", dst, dev.Name())
		return nil
	}
}

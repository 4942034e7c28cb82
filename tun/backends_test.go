package tun

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/ipipd/ipipd/internal/lab"
)

// testMTU is the offload test device's MTU, the TUN default.
const testMTU = 1500

// backend is one of the package's two Device implementations, with what
// the tests that hold for both need to know of it.
type backend struct {
	name      string
	create    func() (Device, error) // testDevice, in this thread's namespace
	batchSize int
	// writeUsesHeadroom: Write puts a header of its own in front of each
	// packet, so it does not leave the headroom alone.
	writeUsesHeadroom bool
}

var (
	waterBackend = backend{name: "water", batchSize: 1,
		create: func() (Device, error) { return OpenWater(testDevice) }}
	offloadBackend = backend{name: "offload", batchSize: 128, writeUsesHeadroom: true,
		create: func() (Device, error) { return OpenOffload(testDevice, testMTU) }}
	backends = []backend{waterBackend, offloadBackend}
)

// forEachBackend runs test as a subtest for each backend.
func forEachBackend(t *testing.T, test func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b) })
	}
}

// open enters a fresh network namespace and opens testDevice there with
// this backend, configured by hand (package netsetup is tested on its
// own). Call it in the test function itself: EnterFresh keeps the
// namespace to the calling goroutine.
func (b backend) open(tb testing.TB) Device {
	tb.Helper()
	lab.EnterFresh(tb)
	dev, err := b.create()
	if err != nil {
		tb.Fatalf("open %s device %s: %v", b.name, testDevice, err)
	}
	tb.Cleanup(func() { dev.Close() })
	if dev.Name() != testDevice {
		tb.Fatalf("Name() = %q, want %q", dev.Name(), testDevice)
	}
	configureTestDevice(tb, testDevice)
	return dev
}

// configureTestDevice does by hand what package netsetup does: IPv6 off (no
// router or listener solicitations into the TUN), the address, and up.
func configureTestDevice(tb testing.TB, name string) {
	tb.Helper()
	err := os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/disable_ipv6", []byte("1"), 0)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		tb.Fatalf("disable IPv6 on %s: %v", name, err)
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		tb.Fatalf("find %s: %v", name, err)
	}
	addr, err := netlink.ParseAddr(testAddress)
	if err != nil {
		tb.Fatal(err)
	}
	if err := netlink.AddrAdd(link, addr); err != nil {
		tb.Fatalf("ip addr add %s dev %s: %v", testAddress, name, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		tb.Fatalf("ip link set %s up: %v", name, err)
	}
}

// dialPeer opens a UDP socket in the test's namespace toward
// testPeer:port: what it sends, the kernel routes out of the TUN.
func dialPeer(tb testing.TB, port uint16) *net.UDPConn {
	tb.Helper()
	to := netip.AddrPortFrom(netip.MustParseAddr(testPeer), port)
	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		tb.Fatalf("UDP socket toward %s: %v", to, err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

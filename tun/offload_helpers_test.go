package tun

import (
	"bytes"
	"errors"
	"github.com/ipipd/ipipd/internal/testnet"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// testMTU is the offload test device's MTU, the TUN default.
const testMTU = 1500

// openOffloadTestDevice enters a fresh network namespace and opens testDevice
// there with offloads, configured as openTestDevice configures the plain one.
func openOffloadTestDevice(t *testing.T) Device {
	t.Helper()
	testnet.EnterFresh(t)
	dev, err := OpenOffload(testDevice, testMTU)
	if err != nil {
		t.Fatalf("OpenOffload(%q, %d): %v", testDevice, testMTU, err)
	}
	t.Cleanup(func() { dev.Close() })
	configureTestDevice(t, testDevice)
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

// goInNetns runs f in a new goroutine in the network namespace of the
// calling goroutine (which testnet.EnterFresh locked to its thread): a socket is
// created in the namespace of the thread that creates it, and a new goroutine
// may run on any thread. The goroutine's thread is locked and never unlocked,
// so it dies with the goroutine instead of serving others in this namespace.
func goInNetns(t *testing.T, f func()) {
	t.Helper()
	ns, err := netns.Get()
	if err != nil {
		t.Fatalf("get this thread's network namespace: %v", err)
	}
	go func() {
		defer ns.Close()
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			t.Errorf("enter the test's network namespace: %v", err)
			return
		}
		f()
	}()
}

// newOffloadBatch allocates n buffers big enough for an offload Read, with
// the headroom marked.
func newOffloadBatch(n int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, testOffset+OffloadReadRoom)
		fillHeadroom(bufs[i])
	}
	return bufs, make([]int, n)
}

// readBatchMatching reads batches from dev until one holds a packet match
// accepts, and returns copies of all the packets of that batch. It fails the
// test after testTimeout, closing the device to stop the reader.
func readBatchMatching(t *testing.T, dev Device, match func(pkt []byte) bool) [][]byte {
	t.Helper()
	type result struct {
		pkts [][]byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		bufs, sizes := newOffloadBatch(dev.BatchSize())
		for {
			n, err := dev.Read(bufs, sizes, testOffset)
			var pkts [][]byte
			matched := false
			for i := range n {
				if !headroomIntact(bufs[i]) {
					done <- result{err: errors.New("Read wrote into the headroom before the offset")}
					return
				}
				pkt := bufs[i][testOffset : testOffset+sizes[i]]
				pkts = append(pkts, bytes.Clone(pkt))
				matched = matched || match(pkt)
			}
			if matched {
				done <- result{pkts: pkts}
				return
			}
			if err != nil {
				if IsClosed(err) {
					done <- result{err: err}
					return
				}
				// Not fatal by the Device contract; say it, keep reading.
				t.Logf("Read from %s: %v", dev.Name(), err)
			}
		}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("reading from %s: %v", dev.Name(), r.err)
		}
		return r.pkts
	case <-time.After(testTimeout):
		dev.Close()
		<-done
		t.Fatalf("no matching packet read from %s within %v", dev.Name(), testTimeout)
		return nil
	}
}

// readOneMatching is readBatchMatching for one packet: the first match.
func readOneMatching(t *testing.T, dev Device, match func(pkt []byte) bool) []byte {
	t.Helper()
	for _, pkt := range readBatchMatching(t, dev, match) {
		if match(pkt) {
			return pkt
		}
	}
	panic("unreachable: readBatchMatching returned a batch without a match")
}

// decodeChecked decodes pkt with gopacket and fails the test unless it is a
// whole IPv4 packet whose IPv4 and transport checksums gopacket finds valid,
// so the test relies on neither wireguard's nor our checksum code.
func decodeChecked(t *testing.T, pkt []byte) gopacket.Packet {
	t.Helper()
	p := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.Default)
	if errLayer := p.ErrorLayer(); errLayer != nil {
		t.Fatalf("gopacket cannot decode a packet read: %v", errLayer.Error())
	}
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if ip == nil || int(ip.Length) != len(pkt) {
		t.Fatalf("not a whole IPv4 packet of %d bytes: %v", len(pkt), p)
	}
	// The TCP and UDP checksums cover a pseudo-header from the IPv4 layer.
	if udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
		udp.SetNetworkLayerForChecksum(ip)
	}
	if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
		tcp.SetNetworkLayerForChecksum(ip)
	}
	err, mismatches := p.VerifyChecksums()
	if err != nil {
		t.Fatalf("verify checksums: %v", err)
	}
	for _, m := range mismatches {
		t.Errorf("bad %s checksum: %#04x, want %#04x", m.Layer.LayerType(), m.Actual, m.Correct)
	}
	if udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && udp.Checksum == 0 {
		t.Errorf("UDP checksum is 0 (none); the kernel asked for one to be filled in")
	}
	return p
}

// isUDPTo and isTCPTo match packets by transport and destination port.
func isUDPTo(port layers.UDPPort) func([]byte) bool {
	return func(pkt []byte) bool {
		udp, _ := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.Default).Layer(layers.LayerTypeUDP).(*layers.UDP)
		return udp != nil && udp.DstPort == port
	}
}

func isTCPTo(port layers.TCPPort, syn, ack bool) func([]byte) bool {
	return func(pkt []byte) bool {
		tcp, _ := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.Default).Layer(layers.LayerTypeTCP).(*layers.TCP)
		return tcp != nil && tcp.DstPort == port && tcp.SYN == syn && tcp.ACK == ack
	}
}

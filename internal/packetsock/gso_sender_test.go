package packetsock_test

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/lab"
	"github.com/ipipd/ipipd/internal/packetsock"
	"github.com/ipipd/ipipd/internal/packettest"
	"github.com/ipipd/ipipd/internal/rawsock"
	"github.com/ipipd/ipipd/internal/tcxmark"
)

// gsoLink is newLink with a GSOSender in a and the tcx marker loaded there.
type gsoLink struct {
	*link
	g *packetsock.GSOSender
}

func newGSOLink(t *testing.T) *gsoLink {
	t.Helper()
	return newGSOLinkMarking(t, func(m packetsock.Marker) packetsock.Marker { return m }, func(ifindex int, err error) {
		t.Errorf("marking device %d: %v", ifindex, err)
	})
}

// newGSOLinkMarking is newGSOLink whose sender marks with what wrap makes of
// the namespace's marker, and tells onMarkError of its errors.
func newGSOLinkMarking(t *testing.T, wrap func(packetsock.Marker) packetsock.Marker, onMarkError func(int, error)) *gsoLink {
	t.Helper()
	l := &gsoLink{link: newLink(t, true)}
	err := l.a.Do(func() error {
		m, err := tcxmark.Load()
		if err != nil {
			lab.SkipOrFail(t, "no tcx: "+err.Error())
		}
		t.Cleanup(func() { m.Close() })
		raw, err := rawsock.NewSender(rawsock.SenderOptions{})
		if err != nil {
			return err
		}
		t.Cleanup(func() { raw.Close() })
		l.g, err = packetsock.NewGSOSender(packetsock.GSOOptions{
			Options:     packetsock.Options{Fallback: raw, Direct: &l.direct, Fallen: &l.fallen},
			Marker:      wrap(nsMarker{m, l.a}),
			OnMarkError: onMarkError,
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.g.Close() })
	return l
}

// nsMarker marks in a namespace: tcx finds a device by its index in the
// calling thread's namespace, and the test writes from the host's.
type nsMarker struct {
	m  *tcxmark.Marker
	ns *lab.NS
}

func (n nsMarker) Mark(ifindex int) error {
	return n.ns.Do(func() error { return n.m.Mark(ifindex) })
}
func (n nsMarker) Forget(ifindex int) { n.m.Forget(ifindex) }

// superPacket is an IPIP packet to addrB around a TCP super-packet of
// count segments of mss bytes (partial checksum, as a TUN hands it), and
// the segments themselves.
func superPacket(count, mss int) (outer []byte, segs [][]byte) {
	h := packettest.IP{Src: netip.MustParseAddr("192.168.41.1"), Dst: netip.MustParseAddr("192.168.42.1"), DF: true}
	payload := packettest.Pattern(count * mss)
	for i := range count {
		h.ID = 100 + uint16(i)
		flags := uint8(packettest.FlagACK)
		if i == count-1 {
			flags |= packettest.FlagPSH
		}
		segs = append(segs, h.TCP(40000, 5201, 1+uint32(i*mss), 1, flags, payload[i*mss:(i+1)*mss]))
	}
	return packettest.IP{Src: addrA, Dst: addrB, ID: 7, DF: true}.IPIP(packettest.GROMerge(segs)), segs
}

// writeWhole calls WriteWhole until the path is resolved and it sends.
func (l *gsoLink) writeWhole(t *testing.T, pkt []byte, mss int) {
	t.Helper()
	for i := 0; ; i++ {
		sent, err := l.g.WriteWhole(pkt, mss)
		if err != nil {
			t.Fatalf("WriteWhole: %v", err)
		}
		if sent {
			return
		}
		if i > 200 {
			t.Fatal("WriteWhole did not take the super-packet within 2 s: the path was not resolved")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Over a veth (tx-ipxip4-segmentation on), the super-packet crosses whole:
// b's protocol-4 socket reads the 63 400-byte frame as it was written, its
// inner checksum still partial (the case decap.Coalesced handles).
func TestGSOSenderCrossesVethWhole(t *testing.T) {
	l := newGSOLink(t)
	pkt, _ := superPacket(44, 1440)
	l.writeWhole(t, bytes.Clone(pkt), 1440)
	got := l.receive(t, 1)
	if !bytes.Equal(got[0], pkt) {
		t.Fatalf("b read %d bytes, want the %d-byte super-packet as written", len(got[0]), len(pkt))
	}
	// Once the path and the device are known, a send allocates nothing.
	if a := testing.AllocsPerRun(20, func() {
		if sent, err := l.g.WriteWhole(pkt, 1440); !sent || err != nil {
			t.Fatalf("WriteWhole = %v, %v", sent, err)
		}
	}); a != 0 {
		t.Errorf("WriteWhole: %v allocations, want 0", a)
	}
}

// Without IPIP segmentation offload on the device, the kernel segments the
// super-packet in software (ipip_gso_segment): b reads each segment in its
// own outer packet, with the outer header's addresses and consecutive IDs.
func TestGSOSenderSegmentsInSoftware(t *testing.T) {
	l := newGSOLink(t)
	l.a.Run(t, "ethtool", "-K", "va", "tx-ipxip4-segmentation", "off", "tso", "off")
	pkt, segs := superPacket(10, 1440)
	l.writeWhole(t, bytes.Clone(pkt), 1440)
	got := l.receive(t, len(segs))
	for i, o := range got {
		outer := header.IPv4(o)
		inner := header.IPv4(o[header.MinSize:])
		if len(o) != header.MinSize+len(segs[i]) || outer.ID() != 7+uint16(i) || outer.Src() != header.IPv4(pkt).Src() || !outer.HeaderChecksumValid() {
			t.Fatalf("outer packet %d: %d bytes, ID %d, header % x", i, len(o), outer.ID(), o[:20])
		}
		// The payload and the headers but the checksum, which veth leaves
		// partial.
		seg := bytes.Clone(segs[i])
		packettest.PartialChecksum(header.IPv4(seg))
		if !bytes.Equal(inner, seg) && !bytes.Equal(inner, segs[i]) {
			t.Fatalf("segment %d differs from what tcp_gso_segment would make", i)
		}
	}
}

// A destination not resolved yet is refused, for the caller to segment;
// ordinary packets go out as through a Sender.
func TestGSOSenderRefusesWhatItCannotAddress(t *testing.T) {
	l := newGSOLink(t)
	pkt, _ := superPacket(3, 1000)
	header.IPv4(pkt).SetDst(header.Addr4(netip.MustParseAddr("10.245.7.99")))
	header.IPv4(pkt).SetHeaderChecksum()
	for range 20 {
		if sent, err := l.g.WriteWhole(pkt, 1000); sent || err != nil {
			t.Fatalf("WriteWhole to an address without a neighbour = %v, %v; want false, nil", sent, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n, err := l.g.Write([][]byte{packet(addrA, 1)}); n != 1 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	l.receive(t, 1)
}

// A device whose MAC address changes under a running sender (ip link set
// dev va address …): once the kernel has said so, super-packets leave with
// the new address, not the one read on the device's first super-packet.
func TestGSOSenderFollowsTheDeviceAddress(t *testing.T) {
	l := newGSOLink(t)
	macs := openSourceMACs(t, l.b, "vb")
	pkt, _ := superPacket(3, 1000)
	l.writeWhole(t, bytes.Clone(pkt), 1000)
	if got, want := macs.next(t), hardwareAddr(t, l.a, "va"); got.String() != want.String() {
		t.Fatalf("a super-packet left from %v; va is %v", got, want)
	}
	const changed = "02:00:00:00:aa:01"
	l.a.Run(t, "ip", "link", "set", "dev", "va", "address", changed)
	// The kernel flushed va's neighbours with its address: resolve b again.
	if err := l.a.Ping(addrB, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	var got net.HardwareAddr
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		l.writeWhole(t, bytes.Clone(pkt), 1000)
		if got = macs.next(t); got.String() == changed {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("super-packets still leave from %v, 3 s after va became %s", got, changed)
}

// flakyMarker fails its first Mark, as an attach to a device being made
// again may, and counts every Mark.
type flakyMarker struct {
	packetsock.Marker
	marks int
}

func (m *flakyMarker) Mark(ifindex int) error {
	if m.marks++; m.marks == 1 {
		return errors.New("the device is not there yet")
	}
	return m.Marker.Mark(ifindex)
}

// An attach that failed is tried again: the super-packets meanwhile are
// refused (for the caller to segment), and once it succeeds they go whole.
// It is tried again a second later, not on every super-packet, and the
// error is told once.
func TestGSOSenderTriesAFailedMarkAgain(t *testing.T) {
	var flaky *flakyMarker
	told := 0
	l := newGSOLinkMarking(t, func(m packetsock.Marker) packetsock.Marker {
		flaky = &flakyMarker{Marker: m}
		return flaky
	}, func(int, error) { told++ })
	pkt, _ := superPacket(3, 1000)
	start := time.Now()
	refused := 0
	for {
		sent, err := l.g.WriteWhole(bytes.Clone(pkt), 1000)
		if err != nil {
			t.Fatalf("WriteWhole: %v", err)
		}
		if sent {
			break
		}
		refused++
		if time.Since(start) > 5*time.Second {
			t.Fatalf("WriteWhole refused %d super-packets in 5 s after one failed attach, with %d attempts to attach: it is not tried again", refused, flaky.marks)
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.receive(t, 1)
	// 2: the failure and the retry; one more for a device notification
	// that came meanwhile.
	if told != 1 || flaky.marks < 2 || flaky.marks > 3 {
		t.Errorf("told of %d errors, %d attempts to attach for %d refused super-packets; want 1 error told, 2 or 3 attempts", told, flaky.marks, refused)
	}
}

// sourceMACs reads, on one device of a namespace, the source MAC address of
// the IPIP packets arriving there: an AF_PACKET socket in SOCK_DGRAM mode
// gives it with each packet (sockaddr_ll).
type sourceMACs struct{ fd int }

func openSourceMACs(t *testing.T, ns *lab.NS, dev string) *sourceMACs {
	t.Helper()
	c := &sourceMACs{fd: -1}
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		// Protocol 0 receives nothing until bind names the protocol and
		// the device at once.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		c.fd = fd
		const ethIPv4 = 0x0008 // htons(ETH_P_IP)
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: ethIPv4, Ifindex: ifi.Index}); err != nil {
			return err
		}
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 200000})
	})
	if c.fd >= 0 {
		t.Cleanup(func() { unix.Close(c.fd) })
	}
	if err != nil {
		t.Fatalf("capturing on %s: %v", dev, err)
	}
	return c
}

// next returns the source address of the next IPIP packet to arrive,
// waiting at most 3 s.
func (c *sourceMACs) next(t *testing.T) net.HardwareAddr {
	t.Helper()
	buf := make([]byte, 1<<16)
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatalf("reading the capture: %v", err)
		}
		ll, ok := from.(*unix.SockaddrLinklayer)
		if ok && ll.Pkttype != unix.PACKET_OUTGOING && n >= header.MinSize && header.IPv4(buf).Protocol() == header.ProtocolIPIP {
			return net.HardwareAddr(bytes.Clone(ll.Addr[:ll.Halen]))
		}
	}
	t.Fatal("no IPIP packet arrived in 3 s")
	return nil
}

// hardwareAddr is the MAC address of dev in ns.
func hardwareAddr(t *testing.T, ns *lab.NS, dev string) net.HardwareAddr {
	t.Helper()
	var mac net.HardwareAddr
	if err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(dev)
		if err == nil {
			mac = ifi.HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return mac
}

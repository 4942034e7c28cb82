package packetsock_test

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

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
			Options: packetsock.Options{Fallback: raw, Direct: &l.direct, Fallen: &l.fallen},
			Marker:  nsMarker{m, l.a},
			OnMarkError: func(ifindex int, err error) {
				t.Errorf("marking device %d: %v", ifindex, err)
			},
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

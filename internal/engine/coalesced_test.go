package engine

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/packettest"
)

// coalescedPacket is what a raw socket reads when the underlay's GRO merged
// the segments of a TCP flow from p2p's peer network: one inner packet of
// payload bytes, starting at sequence number seq.
func coalescedPacket(seq uint32, payload int) []byte {
	return packettest.Flow{Src: netip.MustParseAddr("172.16.9.1"), Dst: netip.MustParseAddr("172.16.0.1"),
		Seq: seq, ID: 100, Flags: packettest.FlagPSH}.Coalesced(payload)
}

// overP2P is inner as p2p's remote end sends it through the tunnel.
func overP2P(inner []byte) []byte { return outerPacket("10.245.1.9", "10.245.1.2", inner) }

// A batch of coalesced packets, more segments than the slab and the queue
// hold at once: every packet arrives in the TUN as segments of the
// tunnel's MTU with whole checksums, in order, and is counted once as
// coalesced and once per segment as received.
func TestReceiveSplitsCoalesced(t *testing.T) {
	e, devs, send := newTestEngine(t, meshYAML)
	const packets, payload = 40, 65535 - 20 - 40 // the largest inner packet an outer one holds
	var batch [][]byte
	for i := range packets {
		batch = append(batch, overP2P(coalescedPacket(uint32(i)*payload, payload)))
	}
	receive(e, send, append(batch, overP2P(innerPacket("172.16.9.1", "172.16.0.1", 100, true)))...)

	written := devs["p2p"].written
	perPacket := (payload + 1459) / 1460 // p2p's MTU is 1500: 1460 bytes beside 40 of headers
	if len(written) != packets*perPacket+1 {
		t.Fatalf("%d packets written, want %d", len(written), packets*perPacket+1)
	}
	var next uint32
	for i, seg := range written[:packets*perPacket] {
		if len(seg) > 1500 || !header.IPv4(seg).IsValid(len(seg)) || !packettest.TCPChecksumWhole(seg) {
			t.Fatalf("segment %d: %d bytes, valid IPv4 %v, whole TCP checksum %v", i, len(seg), header.IPv4(seg).IsValid(len(seg)), packettest.TCPChecksumWhole(seg))
		}
		if seq := binary.BigEndian.Uint32(seg[24:]); seq != next {
			t.Fatalf("segment %d: seq %d, want %d (out of order or lost)", i, seq, next)
		}
		next += uint32(len(seg) - 40)
	}
	if len(written[len(written)-1]) != 100 {
		t.Error("the ordinary packet after the coalesced ones was not delivered last and whole")
	}
	s := e.Status().Tunnels[0].Stats
	if s.RxCoalesced != packets || s.RxPackets != uint64(packets*perPacket+1) || s.RxDropped != 0 {
		t.Errorf("p2p counters %+v", s)
	}
}

// A coalesced packet that cannot be cut for the tunnel's MTU is dropped
// and counted, not written whole with a checksum the TUN's TCP refuses.
func TestReceiveCountsUncuttableCoalesced(t *testing.T) {
	e, devs, send := newTestEngine(t, meshYAML)
	inner := coalescedPacket(0, 3000)
	inner[32] = 0xf0 // a 60-byte TCP header: with 20 of IP it fills the MTU of 80 below
	st := e.state.Load()
	st.tunnels[st.index[runtimeOf(st, "p2p")]].tunMTU = 80
	receive(e, send, overP2P(inner))
	if len(devs["p2p"].written) != 0 {
		t.Fatalf("%d packets written", len(devs["p2p"].written))
	}
	if s := e.Status().Tunnels[0].Stats; s.Drops["bad_coalesced"] != 1 || s.RxDropped != 1 {
		t.Errorf("p2p counters %+v", s)
	}
}

// Splitting allocates nothing either: a full batch of 64 KiB coalesced
// packets, which flushes the slab several times.
func TestReceiveCoalescedAllocatesNothing(t *testing.T) {
	e, send := newQuietEngine(t, meshYAML)
	b := fullReceiveBatch(overP2P(coalescedPacket(0, 65535-40-20)))
	allocs := testing.AllocsPerRun(20, func() { e.receiveBatch(send, b, fullBatch) })
	if allocs != 0 {
		t.Errorf("a batch of 64 coalesced packets allocates %.1f times, want 0", allocs)
	}
}

// gsoDevice is a fake TUN that also takes GSO writes, as the offload
// backend does; it records both kinds in order.
type gsoDevice struct {
	fakeDevice
	gso []int // the mss of each GSO write, at its place in written (-1 for ordinary ones)
}

func (d *gsoDevice) Write(bufs [][]byte, offset int) (int, error) {
	for range bufs {
		d.gso = append(d.gso, -1)
	}
	return d.fakeDevice.Write(bufs, offset)
}

func (d *gsoDevice) WriteTCPv4GSO(buf []byte, offset, mss int) error {
	d.gso = append(d.gso, mss)
	d.written = append(d.written, append([]byte(nil), buf[offset:]...))
	return nil
}

// With a TUN that takes GSO writes, a coalesced packet goes whole, with
// the tunnel's segment size, after the packets received before it and
// before those after it.
func TestReceiveWritesCoalescedWholeToAGSODevice(t *testing.T) {
	e, _, send := newTestEngine(t, meshYAML)
	st := e.state.Load()
	i := st.index[runtimeOf(st, "p2p")]
	dev := &gsoDevice{fakeDevice: fakeDevice{name: "p2p", keep: true}}
	st.tunnels[i].rt.dev = dev
	coalesced := coalescedPacket(0, 10*1460)
	receive(e, send,
		overP2P(innerPacket("172.16.9.1", "172.16.0.1", 100, true)),
		overP2P(coalesced),
		overP2P(innerPacket("172.16.9.1", "172.16.0.1", 200, true)))
	if want := []int{-1, 1460, -1}; len(dev.gso) != 3 || dev.gso[0] != want[0] || dev.gso[1] != want[1] || dev.gso[2] != want[2] {
		t.Fatalf("writes %v, want %v (ordinary, GSO with mss 1460, ordinary)", dev.gso, want)
	}
	if len(dev.written[1]) != len(coalesced) {
		t.Errorf("the GSO write has %d bytes, want the whole %d", len(dev.written[1]), len(coalesced))
	}
	s := e.Status().Tunnels[0].Stats
	if s.RxCoalesced != 1 || s.RxPackets != 12 || s.RxBytes != 100+200+10*1500 {
		t.Errorf("p2p counters %+v; want 1 coalesced, 12 packets, %d bytes", s, 100+200+10*1500)
	}
}

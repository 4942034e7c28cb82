package decap

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"unsafe"

	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/packettest"
	"github.com/ipipd/ipipd/lookup"
)

// FuzzDecap: on any bytes and link, Decap must not panic, must not write
// outside the packet or anywhere but the inner TOS and checksum, must
// return an inner packet that lies inside the input and is valid IPv4, and
// must agree with IsValid about the outer header.
func FuzzDecap(f *testing.F) {
	packettest.AddSeeds(f, func(pkt []byte) { f.Add(pkt, uint8(2)) })
	tunnels, err := lookup.NewTunnelTable([]lookup.Tunnel{
		{Name: "tunl0"},
		{Name: "p2p", Local: netip.MustParseAddr("10.245.1.2"), Remote: netip.MustParseAddr("10.245.1.3"), Link: 2},
		{Name: "local", Local: netip.MustParseAddr("10.245.1.4")},
		{Name: "group", Remote: netip.MustParseAddr("239.1.1.1")},
		{Name: "mpls", Local: netip.MustParseAddr("10.245.1.2"), Remote: netip.MustParseAddr("10.245.1.9"), Mode: 137},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, link uint8) {
		const guard = 16
		buf := make([]byte, len(data)+guard)
		copy(buf, data)
		for i := len(data); i < len(buf); i++ {
			buf[i] = 0xa5
		}
		before := bytes.Clone(buf)
		r := Decap(buf[:len(data)], len(data), int(link), tunnels)

		if !bytes.Equal(buf[len(data):], before[len(data):]) {
			t.Fatal("wrote past the packet")
		}
		outerValid := header.IPv4(data).IsValid(len(data)) && header.IPv4(data).Src() != 0 && header.IPv4(data).Dst() != 0
		if !outerValid && (r.Verdict != Drop || r.Reason != BadOuter) {
			t.Fatalf("invalid outer header, verdict %v/%v", r.Verdict, r.Reason)
		}
		if r.Verdict != Deliver && (r.Tunnel == lookup.None) != r.Reason.BeforeSelection() {
			t.Fatalf("%v/%v with tunnel %d: BeforeSelection says %v", r.Verdict, r.Reason, r.Tunnel, r.Reason.BeforeSelection())
		}
		if r.Verdict != Deliver {
			if r.Inner != nil {
				t.Fatal("inner packet returned with a non-deliver verdict")
			}
			if r.Reason != ECNDrop && !bytes.Equal(buf, before) {
				t.Fatalf("%v/%v changed the packet", r.Verdict, r.Reason)
			}
			return
		}
		start := int(uintptr(unsafe.Pointer(unsafe.SliceData(r.Inner))) - uintptr(unsafe.Pointer(&buf[0])))
		if start < header.MinSize || start+len(r.Inner) > len(data) {
			t.Fatalf("inner [%d:%d] outside the packet of %d bytes", start, start+len(r.Inner), len(data))
		}
		if !header.IPv4(r.Inner).IsValid(len(r.Inner)) || int(header.IPv4(r.Inner).TotalLength()) != len(r.Inner) {
			t.Fatal("delivered an invalid inner packet")
		}
		for i := range data {
			if buf[i] != before[i] && i != start+1 && i != start+10 && i != start+11 {
				t.Fatalf("byte %d changed; only the inner TOS and checksum may", i)
			}
		}
		if r.ECN == ECNSetCE || r.ECN == ECNSetECT1 {
			if header.IPv4(r.Inner).HeaderChecksumValid() != header.IPv4(before[start:]).HeaderChecksumValid() {
				t.Fatal("the incremental checksum update broke a valid checksum, or fixed a broken one")
			}
		}
	})
}

// FuzzSplitCoalesced: on any packet and MSS, Coalesced and SplitCoalesced
// must not panic, must not touch the packet, and must write only inside
// the slab space SplitSpace asked for. Segments they make must be valid
// IPv4 with whole IP and TCP checksums, sequence numbers mss apart, and
// payloads that put back together are the packet's. The seeds are outer
// packets, as FuzzDecap takes them; their inner packet is split.
func FuzzSplitCoalesced(f *testing.F) {
	packettest.AddSeeds(f, func(pkt []byte) { f.Add(pkt, uint16(1000)) })
	f.Fuzz(func(t *testing.T, data []byte, mss16 uint16) {
		inner := header.IPv4(data)
		if outer := header.IPv4(data); outer.IsValid(len(data)) && outer.Protocol() == header.ProtocolIPIP {
			inner = header.IPv4(outer.Payload())
		}
		if !inner.IsValid(len(inner)) {
			return
		}
		inner = header.IPv4(inner.Packet())
		before := bytes.Clone(inner)
		mss := int(mss16)
		Coalesced(inner)
		count, need := SplitSpace(inner, mss, 20)
		const guard = 16
		slab := bytes.Repeat([]byte{0xa5}, need+guard)
		segs := make([][]byte, max(count, 1))
		n := SplitCoalesced(inner, mss, slab[:need], 20, segs)
		if !bytes.Equal(inner, before) {
			t.Fatal("the packet changed")
		}
		if !bytes.Equal(slab[need:], bytes.Repeat([]byte{0xa5}, guard)) {
			t.Fatal("wrote past the space SplitSpace asked for")
		}
		if n != count {
			t.Fatalf("%d segments, SplitSpace said %d", n, count)
		}
		if n == 0 {
			return
		}
		hdrs := header.TCPHeadersLength(inner)
		var payload []byte
		seq := binary.BigEndian.Uint32(inner[inner.HeaderLength()+header.TCPSeq:])
		for i, s := range segs[:n] {
			if cap(s) != len(s) {
				t.Fatalf("segment %d shares capacity with what follows it", i)
			}
			seg := header.IPv4(s[20:])
			if !seg.IsValid(len(seg)) || !seg.HeaderChecksumValid() || int(seg.TotalLength()) != len(seg) {
				t.Fatalf("segment %d is not valid IPv4", i)
			}
			tcp := seg[seg.HeaderLength():]
			if header.Checksum(tcp, header.TCPPseudoHeaderSum(seg, len(tcp))) != 0xffff {
				t.Fatalf("segment %d: TCP checksum not whole", i)
			}
			if len(seg)-hdrs > mss {
				t.Fatalf("segment %d carries %d bytes, more than mss %d", i, len(seg)-hdrs, mss)
			}
			if got := binary.BigEndian.Uint32(tcp[header.TCPSeq:]); got != seq+uint32(i*mss) {
				t.Fatalf("segment %d: seq %d, want %d", i, got, seq+uint32(i*mss))
			}
			payload = append(payload, seg[hdrs:]...)
		}
		if !bytes.Equal(payload, inner[hdrs:]) {
			t.Fatal("the segments' payloads are not the packet's")
		}
	})
}

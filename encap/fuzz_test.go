package encap

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/packettest"
)

// FuzzEncap: on any inner bytes and tunnel settings, Encap must not panic,
// must write only the 20 bytes of headroom, must drop exactly the packets
// that fail the IPv4 check, and what it sends must be a valid IPIP packet
// whose fragments (when it asks for them) reassemble to it; on a locked
// path the outer DF is clear and nothing is too big but for 16 bits.
func FuzzEncap(f *testing.F) {
	packettest.AddSeeds(f, func(pkt []byte) {
		f.Add(pkt, uint8(0), uint8(0), false, true, uint16(1500), false)    // tunl0-like: inherit, no pmtudisc
		f.Add(pkt, uint8(64), uint8(0xb8), false, true, uint16(576), false) // fixed TTL and TOS, small path
		f.Add(pkt, uint8(0), uint8(1), true, false, uint16(68), false)      // inherit TOS, pmtudisc, minimum MTU
		f.Add(pkt, uint8(64), uint8(0), false, true, uint16(552), true)     // a path MTU locked at min_pmtu
	})
	f.Fuzz(func(t *testing.T, inner []byte, ttl, tos uint8, inheritTOS, pmtudisc bool, pathMTU uint16, locked bool) {
		const guard = 16
		n := len(inner)
		buf := make([]byte, Headroom+n+guard)
		copy(buf[Headroom:], inner)
		for i := Headroom + n; i < len(buf); i++ {
			buf[i] = 0x5a
		}
		tu := NewTunnel(Params{Local: netip.MustParseAddr("10.245.1.2"), TTL: ttl, TOS: tos, InheritTOS: inheritTOS, PMTUDisc: pmtudisc})
		r := tu.Encap(buf[:Headroom+n], n, 0x0af50103, NewIDs(1), Path{MTU: int(pathMTU), Locked: locked})

		if !bytes.Equal(buf[Headroom:Headroom+n], inner) {
			t.Fatal("the inner packet changed")
		}
		for i := Headroom + n; i < len(buf); i++ {
			if buf[i] != 0x5a {
				t.Fatal("wrote past the packet")
			}
		}
		valid := header.IPv4(inner).IsValid(n)
		if valid != (r.Verdict != Drop || r.Reason == TooBig) {
			t.Fatalf("inner valid=%v but verdict %v/%v", valid, r.Verdict, r.Reason)
		}
		switch r.Verdict {
		case Send, Fragment:
			out := header.IPv4(r.Packet(buf))
			if !out.IsValid(len(r.Packet(buf))) || !out.HeaderChecksumValid() || out.Protocol() != header.ProtocolIPIP ||
				int(out.TotalLength()) != len(r.Packet(buf)) || out.ID() == 0 {
				t.Fatalf("bad outer header % x", r.Packet(buf)[:Headroom])
			}
			if locked && out.DontFragment() {
				t.Fatal("outer DF set on a locked path")
			}
			if r.Verdict == Send && len(r.Packet(buf)) > int(pathMTU) {
				t.Fatalf("sent %d bytes on a %d-byte path", len(r.Packet(buf)), pathMTU)
			}
			if r.Verdict == Fragment {
				frags := make([][]byte, len(r.Packet(buf))/max(1, (int(pathMTU)-Headroom)&^7)+1)
				for i := range frags {
					frags[i] = make([]byte, int(pathMTU))
				}
				sizes := make([]int, len(frags))
				count := FragmentPacket(r.Packet(buf), int(pathMTU), frags, sizes)
				var payload []byte
				for i := 0; i < count; i++ {
					f := header.IPv4(frags[i][:sizes[i]])
					if sizes[i] > int(pathMTU) || !f.HeaderChecksumValid() {
						t.Fatalf("fragment %d of %d bytes on a %d-byte path", i, sizes[i], pathMTU)
					}
					payload = append(payload, f.Payload()...)
				}
				if count > 0 && !bytes.Equal(payload, r.Packet(buf)[Headroom:]) {
					t.Fatal("fragments do not reassemble to the packet")
				}
			}
		case Drop:
			if locked && r.Reason == TooBig && int(header.IPv4(inner).TotalLength()) <= header.MaxTotalLength-Overhead {
				t.Fatal("dropped as too big on a locked path, where IP output fragments")
			}
		case FragNeeded:
			if !header.IPv4(inner).DontFragment() || int(r.MTU) != max(int(pathMTU)-Overhead, 0) {
				t.Fatalf("frag needed without inner DF, or MTU %d on a %d path", r.MTU, pathMTU)
			}
		}
	})
}

package icmperr

import (
	"encoding/binary"
	"testing"

	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/packettest"
)

// parseCase is one ICMP datagram and what Parse must say about it.
type parseCase struct {
	name string
	pkt  []byte
	ok   bool
	want Event // with ok; Link is always testLink
}

const testLink = 7

// parseCases builds the table: every accepted type, and every reason to
// refuse, as section 5.1 of kernel-ipip.md lists them.
func parseCases() []parseCase {
	tunnelPkt := ipipPacket(local, remote, 1400) // what the router could not forward
	udp := ipv4Packet(packettest.ProtocolUDP, local, remote, 100)
	quote := tunnelPkt[:header.MinSize+8+header.MinSize] // outer header, inner header, 8 bytes of it
	ev := func(typ, code uint8, mtu int) Event {
		return Event{Type: typ, Code: code, MTU: mtu, Local: local, Remote: remote, Link: testLink, From: router}
	}
	fragNeeded := packettest.Unreachable(router, local, CodeFragNeeded, 1380, tunnelPkt)
	quoteIHL := func(ihl byte) []byte {
		return edit(fragNeeded, func(p []byte) { p[28] = 0x40 | ihl })
	}
	return []parseCase{
		{"frag-needed with mtu", fragNeeded, true, ev(3, 4, 1380)},
		{"frag-needed without mtu (pre-RFC 1191 router)", packettest.Unreachable(router, local, CodeFragNeeded, 0, tunnelPkt), true, ev(3, 4, 0)},
		{"frag-needed quoting only header+8", icmpMessage(router, local, 3, 4, 1300, tunnelPkt[:28]), true, ev(3, 4, 1300)},
		{"frag-needed from the remote itself", packettest.Unreachable(remote, local, CodeFragNeeded, 1280, tunnelPkt), true,
			Event{Type: 3, Code: 4, MTU: 1280, Local: local, Remote: remote, Link: testLink, From: remote}},
		{"port unreachable", packettest.Unreachable(router, local, header.CodePortUnreachable, 0, tunnelPkt), true, ev(3, 3, 0)},
		{"port unreachable with junk in the mtu field", icmpMessage(router, local, 3, 3, 0xdead0578, quote), true, ev(3, 3, 0)},
		{"host unreachable", packettest.Unreachable(router, local, header.CodeHostUnreachable, 0, tunnelPkt), true, ev(3, 1, 0)},
		{"source route failed (ipip_err drops it, icmp_unreach does not)", icmpMessage(router, local, 3, CodeSRFailed, 0, quote), true, ev(3, 5, 0)},
		{"dest unreachable code 15 (precedence cutoff)", icmpMessage(router, local, 3, 15, 0, quote), true, ev(3, 15, 0)},
		{"dest unreachable code 16 (> NR_ICMP_UNREACH)", icmpMessage(router, local, 3, 16, 0, quote), false, Event{}},
		{"time exceeded in transit", icmpMessage(router, local, 11, 0, 0, quote), true, ev(11, 0, 0)},
		{"time exceeded in reassembly", icmpMessage(router, local, 11, 1, 0, quote), false, Event{}},
		{"redirect for host", icmpMessage(router, local, 5, 1, header.Addr4(remote), quote), true, ev(5, 1, 0)},
		{"redirect for network", icmpMessage(router, local, 5, 0, header.Addr4(remote), quote), true, ev(5, 0, 0)},
		{"echo reply", icmpMessage(remote, local, 0, 0, 0x1cee0001, quote), false, Event{}},
		{"echo request", icmpMessage(remote, local, 8, 0, 0x1cee0001, quote), false, Event{}},
		{"source quench", icmpMessage(router, local, 4, 0, 0, quote), false, Event{}},
		{"parameter problem", icmpMessage(router, local, 12, 0, 0x0c000000, quote), false, Event{}},
		{"quote of protocol 17", packettest.Unreachable(router, local, CodeFragNeeded, 1380, udp), false, Event{}},
		{"quote of header+7 bytes", icmpMessage(router, local, 3, 4, 1300, tunnelPkt[:27]), false, Event{}},
		{"quote of the outer header only", icmpMessage(router, local, 3, 4, 1300, tunnelPkt[:20]), false, Event{}},
		{"quote with options and header+8", icmpMessage(router, local, 3, 4, 1300, withOuterOptions(tunnelPkt, 4)[:32]), true, ev(3, 4, 1300)},
		{"quote with options and header+7", icmpMessage(router, local, 3, 4, 1300, withOuterOptions(tunnelPkt, 4)[:31]), false, Event{}},
		{"quoted ihl 4", quoteIHL(4), false, Event{}},
		{"quoted ihl 0", quoteIHL(0), false, Event{}},
		{"quoted ihl 15 with 68 bytes quoted", quoteIHL(15), true, ev(3, 4, 1380)},
		{"quoted ihl 15 with 40 bytes quoted", edit(icmpMessage(router, local, 3, 4, 1300, tunnelPkt[:40]), func(p []byte) { p[28] = 0x4f }), false, Event{}},
		{"quoted version 6 (the kernel does not look)", edit(fragNeeded, func(p []byte) { p[28] = 0x65 }), true, ev(3, 4, 1380)},
		{"bad icmp checksum", func() []byte { p := append([]byte(nil), fragNeeded...); p[22] ^= 0x01; return p }(), false, Event{}},
		{"bad icmp checksum in the quote", func() []byte { p := append([]byte(nil), fragNeeded...); p[len(p)-1] ^= 0x80; return p }(), false, Event{}},
		{"outer header with options", withOuterOptions(fragNeeded, 8), true, ev(3, 4, 1380)},
		{"trailing padding after total length", append(append([]byte(nil), fragNeeded...), 0xff, 0xff, 0xff), true, ev(3, 4, 1380)},
		{"outer bad header (version 5)", edit(fragNeeded, func(p []byte) { p[0] = 0x55 }), false, Event{}},
		{"outer total length beyond the bytes", func() []byte {
			p := append([]byte(nil), fragNeeded...)
			header.IPv4(p).SetTotalLength(uint16(len(p) + 1))
			header.IPv4(p).SetHeaderChecksum()
			return p
		}(), false, Event{}},
		{"outer protocol udp", edit(fragNeeded, func(p []byte) { p[9] = packettest.ProtocolUDP }), false, Event{}},
		{"outer fragment", edit(fragNeeded, func(p []byte) { p[6] |= 0x20 }), false, Event{}},
		{"to a multicast group", packettest.Unreachable(router, header.AddrFrom32(0xe0000001), CodeFragNeeded, 1380, tunnelPkt), false, Event{}},
		{"to the limited broadcast", packettest.Unreachable(router, header.AddrFrom32(0xffffffff), CodeFragNeeded, 1380, tunnelPkt), false, Event{}},
		{"empty", nil, false, Event{}},
	}
}

func TestParse(t *testing.T) {
	for _, c := range parseCases() {
		t.Run(c.name, func(t *testing.T) {
			got, ok := Parse(c.pkt, testLink)
			if ok != c.ok {
				t.Fatalf("ok = %v, want %v (event %v)", ok, c.ok, got)
			}
			if !ok {
				if got != (Event{}) {
					t.Errorf("refused, but returned %v", got)
				}
				return
			}
			if got != c.want {
				t.Errorf("got  %v\nwant %v", got, c.want)
			}
		})
	}
}

// TestParseTruncated cuts every case at every length. A cut datagram no
// longer matches its own total length, so nothing but the whole is
// accepted. Then the same cut with the total length and both checksums
// fixed, as if a router had quoted less: accepted exactly while the quote
// still has ihl*4 + 8 bytes, with the same event.
func TestParseTruncated(t *testing.T) {
	for _, c := range parseCases() {
		whole, wholeOK := Parse(c.pkt, testLink)
		for n := 0; n <= len(c.pkt); n++ {
			cut := c.pkt[:n:n] // no spare capacity to read into
			if ev, ok := Parse(cut, testLink); ok && (n < len(c.pkt) && !hasPadding(c.pkt) || ev != whole) {
				t.Errorf("%s cut to %d bytes: accepted %v", c.name, n, ev)
			}
			if !wholeOK || n < header.MinSize+icmpHeaderLen {
				continue
			}
			hl := header.IPv4(c.pkt).HeaderLength()
			if n < hl+icmpHeaderLen+1 {
				continue
			}
			short := append([]byte(nil), cut...)
			header.IPv4(short).SetTotalLength(uint16(n))
			header.IPv4(short).SetHeaderChecksum()
			packettest.FixICMP(short)
			quoted := n - hl - icmpHeaderLen
			qhl := int(c.pkt[hl+icmpHeaderLen]&0x0f) * 4
			wantOK := quoted >= header.MinSize && quoted >= qhl+8
			ev, ok := Parse(short, testLink)
			if ok != wantOK || ok && ev != whole {
				t.Errorf("%s quoting %d bytes: got %v %v, want %v %v", c.name, quoted, ok, ev, wantOK, whole)
			}
		}
	}
}

// hasPadding reports bytes after the total length.
func hasPadding(pkt []byte) bool {
	return len(pkt) >= header.MinSize && int(binary.BigEndian.Uint16(pkt[2:])) < len(pkt)
}

func TestParseNoAllocs(t *testing.T) {
	cases := parseCases()
	if allocs := testing.AllocsPerRun(100, func() {
		for _, c := range cases {
			Parse(c.pkt, testLink)
		}
	}); allocs != 0 {
		t.Errorf("Parse: %v allocations per run over %d cases, want 0", allocs, len(cases))
	}
}

package header

import (
	"net/netip"
	"testing"
)

func packet(totalLen int) IPv4 {
	b := make(IPv4, totalLen)
	IPv4(b).Encode(&Fields{TotalLength: uint16(totalLen), TTL: 64, Protocol: ProtocolICMP,
		Src: Addr4(netip.MustParseAddr("192.168.41.0")), Dst: Addr4(netip.MustParseAddr("192.168.42.0"))})
	return b
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(IPv4) IPv4
		pktSize int
		want    Validity
	}{
		{"valid", func(b IPv4) IPv4 { return b }, 84, Valid},
		{"valid with padding after total length", func(b IPv4) IPv4 { b.SetTotalLength(60); return b }, 84, Valid},
		{"19 bytes", func(b IPv4) IPv4 { return b[:19] }, 19, TooShort},
		{"empty", func(b IPv4) IPv4 { return b[:0] }, 0, TooShort},
		{"version 6", func(b IPv4) IPv4 { b[0] = 0x65; return b }, 84, NotVersion4},
		{"IHL 4", func(b IPv4) IPv4 { b[0] = 0x44; return b }, 84, BadIHL},
		{"IHL 15 beyond the packet", func(b IPv4) IPv4 { b[0] = 0x4f; return b[:40] }, 40, BadIHL},
		{"IHL 15 with options present", func(b IPv4) IPv4 { b[0] = 0x4f; return b }, 84, Valid},
		{"total length beyond the bytes", func(b IPv4) IPv4 { b.SetTotalLength(85); return b }, 84, BadTotalLength},
		{"total length below the header", func(b IPv4) IPv4 { b.SetTotalLength(19); return b }, 84, BadTotalLength},
		{"pktSize larger than the slice is clamped", func(b IPv4) IPv4 { return b[:40] }, 84, BadTotalLength},
	}
	for _, tt := range tests {
		b := tt.mutate(packet(84))
		if got := b.Check(tt.pktSize); got != tt.want {
			t.Errorf("%s: Check = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestAccessors(t *testing.T) {
	b := make(IPv4, 40)
	b.Encode(&Fields{TOS: 0xb8, TotalLength: 40, ID: 0xbeef, Flags: FlagDF, TTL: 17, Protocol: ProtocolIPIP,
		Src: 0x0af50102, Dst: 0x0af50103})
	if !b.IsValid(40) || b.TOS() != 0xb8 || b.TotalLength() != 40 || b.ID() != 0xbeef || !b.DontFragment() ||
		b.IsFragment() || b.TTL() != 17 || b.Protocol() != 4 || b.HeaderLength() != 20 || !b.HeaderChecksumValid() {
		t.Fatalf("accessors disagree with Encode: % x", b[:20])
	}
	if b.SrcAddr() != netip.MustParseAddr("10.245.1.2") || b.DstAddr() != netip.MustParseAddr("10.245.1.3") {
		t.Fatalf("addresses %s > %s", b.SrcAddr(), b.DstAddr())
	}
	if len(b.Payload()) != 20 || len(b.Packet()) != 40 {
		t.Fatalf("payload %d, packet %d", len(b.Payload()), len(b.Packet()))
	}
	if AddrFrom32(Addr4(netip.MustParseAddr("1.2.3.4"))).String() != "1.2.3.4" || Addr4(netip.Addr{}) != 0 {
		t.Fatal("Addr4/AddrFrom32 do not round-trip")
	}
	b.SetFlagsFragmentOffset(FlagMF)
	if !b.IsFragment() {
		t.Fatal("MF not seen as a fragment")
	}
}

func TestBuildICMPError(t *testing.T) {
	offending := packet(1400)
	out := make([]byte, 1500)
	n := BuildICMPError(out, offending, &ICMPError{Code: CodeFragNeeded, MTU: 1480, Src: 1, Dst: 2, ID: 7})
	if n != ICMPErrorMaxSize {
		t.Fatalf("length %d, want the kernel's cap %d", n, ICMPErrorMaxSize)
	}
	ip := IPv4(out[:n])
	if !ip.IsValid(n) || !ip.HeaderChecksumValid() || ip.Protocol() != ProtocolICMP || ip.TOS() != 0xc0 {
		t.Fatalf("bad IP header % x", out[:20])
	}
	icmp := ip.Payload()
	if icmp[0] != 3 || icmp[1] != 4 || uint16(icmp[6])<<8|uint16(icmp[7]) != 1480 || Checksum(icmp, 0) != 0xffff {
		t.Fatalf("bad ICMP header % x", icmp[:8])
	}
	if string(icmp[8:8+20]) != string(offending[:20]) {
		t.Fatal("quote does not start with the offending header")
	}
	// Small offending packet: quoted whole.
	small := packet(28)
	if n := BuildICMPError(out, small, &ICMPError{Code: CodePortUnreachable}); n != 20+8+28 {
		t.Fatalf("small quote length %d", n)
	}
	// No room for header + 8 bytes: nothing built.
	if n := BuildICMPError(out[:50], offending, &ICMPError{}); n != 0 {
		t.Fatalf("built %d bytes into a 50-byte buffer", n)
	}
	if n := BuildICMPError(out, offending[:10], &ICMPError{}); n != 0 {
		t.Fatal("built an error for a 10-byte offending packet")
	}
}

func TestMayAnswer(t *testing.T) {
	mk := func(f func(IPv4)) IPv4 { b := packet(84); f(b); return b }
	tests := []struct {
		name string
		pkt  IPv4
		want bool
	}{
		{"echo request", mk(func(b IPv4) { b.Payload()[0] = 8 }), true},
		{"ICMP port unreachable", mk(func(b IPv4) { b.Payload()[0] = 3 }), false},
		{"ICMP time exceeded", mk(func(b IPv4) { b.Payload()[0] = 11 }), false},
		{"non-first fragment", mk(func(b IPv4) { b.SetFlagsFragmentOffset(10) }), false},
		{"first fragment", mk(func(b IPv4) { b.SetFlagsFragmentOffset(FlagMF); b.Payload()[0] = 8 }), true},
		{"source 0.0.0.0", mk(func(b IPv4) { b.SetSrc(0) }), false},
		{"multicast source", mk(func(b IPv4) { b.SetSrc(0xe0000001) }), false},
		{"broadcast source", mk(func(b IPv4) { b.SetSrc(0xffffffff) }), false},
		{"multicast destination", mk(func(b IPv4) { b.SetDst(0xe0000001) }), false},
		{"broadcast destination", mk(func(b IPv4) { b.SetDst(0xffffffff) }), false},
		{"ICMP type unknown to the kernel", mk(func(b IPv4) { b.Payload()[0] = 40 }), false},
		{"ICMP without its type byte", mk(func(b IPv4) { b.SetTotalLength(20) })[:20], false},
	}
	for _, tt := range tests {
		if got := MayAnswer(tt.pkt); got != tt.want {
			t.Errorf("%s: MayAnswer = %v, want %v", tt.name, got, tt.want)
		}
	}
}

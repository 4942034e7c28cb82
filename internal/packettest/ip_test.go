package packettest

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/ipipd/ipipd/internal/header"
)

var (
	innerSrc = netip.MustParseAddr("192.168.41.1")
	innerDst = netip.MustParseAddr("192.168.42.1")
	outerSrc = netip.MustParseAddr("10.245.1.3")
	outerDst = netip.MustParseAddr("10.245.1.2")
)

// decode decodes pkt with gopacket, failing on a decoding error or a
// checksum gopacket's own code does not verify.
func decode(t *testing.T, what string, pkt []byte) gopacket.Packet {
	t.Helper()
	p := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.Default)
	if p.ErrorLayer() != nil {
		t.Fatalf("%s does not decode: %v", what, p.ErrorLayer().Error())
	}
	if ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
			tcp.SetNetworkLayerForChecksum(ip)
		}
		if udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
			udp.SetNetworkLayerForChecksum(ip)
		}
	}
	if err, bad := p.VerifyChecksums(); err != nil || len(bad) != 0 {
		t.Errorf("%s: checksums %v %v", what, err, bad)
	}
	return p
}

// ipLayer returns the first (or, with inner, the second) IPv4 layer.
func ipLayer(t *testing.T, p gopacket.Packet, inner bool) *layers.IPv4 {
	t.Helper()
	var found []*layers.IPv4
	for _, l := range p.Layers() {
		if ip, ok := l.(*layers.IPv4); ok {
			found = append(found, ip)
		}
	}
	i := 0
	if inner {
		i = 1
	}
	if len(found) <= i {
		t.Fatalf("%d IPv4 layers in %v", len(found), p)
	}
	return found[i]
}

// Every header field a test can set lands where gopacket reads it.
func TestHeaderFields(t *testing.T) {
	for _, h := range []IP{
		{Src: innerSrc, Dst: innerDst},
		{Src: innerSrc, Dst: innerDst, TOS: 0xb8, ECN: header.CE, ID: 0xbeef, TTL: 1, DF: true},
		{Src: innerSrc, Dst: innerDst, TOS: 0x2a, ID: 7, TTL: 255},
	} {
		ip := ipLayer(t, decode(t, "header", h.Packet(ProtocolUDP, make([]byte, 8))), false)
		wantTTL, wantFlags := h.TTL, layers.IPv4Flag(0)
		if wantTTL == 0 {
			wantTTL = 64
		}
		if h.DF {
			wantFlags = layers.IPv4DontFragment
		}
		if ip.SrcIP.String() != h.Src.String() || ip.DstIP.String() != h.Dst.String() || ip.Protocol != layers.IPProtocolUDP ||
			ip.TOS != h.TOS|uint8(h.ECN) || ip.Id != h.ID || ip.TTL != wantTTL || ip.Flags != wantFlags ||
			ip.IHL != 5 || int(ip.Length) != 28 {
			t.Errorf("%+v: decoded as %+v", h, ip)
		}
	}
}

func TestUDP(t *testing.T) {
	pkt := IP{Src: innerSrc, Dst: innerDst, ID: 3}.UDP(40000, 9, Pattern(100))
	p := decode(t, "UDP", pkt)
	udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if udp == nil || udp.SrcPort != 40000 || udp.DstPort != 9 || udp.Length != 108 || udp.Checksum != 0 || !bytes.Equal(udp.Payload, Pattern(100)) {
		t.Errorf("UDP decoded as %+v", udp)
	}
}

func TestTCP(t *testing.T) {
	pkt := IP{Src: innerSrc, Dst: innerDst, DF: true}.TCP(40000, 5201, 1000, 77, FlagACK|FlagPSH, []byte("data"))
	p := decode(t, "TCP", pkt)
	tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if tcp == nil || tcp.SrcPort != 40000 || tcp.DstPort != 5201 || tcp.Seq != 1000 || tcp.Ack != 77 ||
		!tcp.ACK || !tcp.PSH || tcp.SYN || tcp.Window != 502 || string(tcp.Payload) != "data" {
		t.Errorf("TCP decoded as %+v", tcp)
	}
	if !TCPChecksumWhole(pkt) {
		t.Error("TCPChecksumWhole disagrees with gopacket")
	}
}

func TestEchoAndICMP(t *testing.T) {
	pkt := IP{Src: innerSrc, Dst: innerDst}.Echo(84)
	if len(pkt) != 84 {
		t.Fatalf("Echo(84) is %d bytes", len(pkt))
	}
	icmp, _ := decode(t, "echo", pkt).Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if icmp == nil || icmp.TypeCode != layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0) || !bytes.Equal(icmp.Payload, Pattern(56)) {
		t.Errorf("echo decoded as %+v", icmp)
	}
	reply := IP{Src: innerDst, Dst: innerSrc}.ICMP(ICMPEchoReply, 0, 0x1cee0005, []byte("pong"))
	icmp, _ = decode(t, "echo reply", reply).Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if icmp == nil || icmp.TypeCode.Type() != layers.ICMPv4TypeEchoReply || icmp.Id != 0x1cee || icmp.Seq != 5 {
		t.Errorf("echo reply decoded as %+v", icmp)
	}
	reply[len(reply)-1] = 'G'
	FixICMP(reply)
	decode(t, "an edited echo reply, fixed", reply)
}

// The outer packet carries the inner one whole, and gopacket decodes both.
func TestIPIP(t *testing.T) {
	inner := IP{Src: innerSrc, Dst: innerDst, TOS: 0x2a, TTL: 37}.Echo(100)
	outer := IP{Src: outerSrc, Dst: outerDst, ECN: header.ECT0, ID: 9, DF: true}.IPIP(inner)
	p := decode(t, "IPIP", outer)
	o, i := ipLayer(t, p, false), ipLayer(t, p, true)
	if o.Protocol != layers.IPProtocolIPv4 || int(o.Length) != 120 || o.TOS != uint8(header.ECT0) || o.Flags != layers.IPv4DontFragment {
		t.Errorf("outer decoded as %+v", o)
	}
	if i.SrcIP.String() != innerSrc.String() || i.TOS != 0x2a || i.TTL != 37 || !bytes.Equal(outer[20:], inner) {
		t.Errorf("inner decoded as %+v", i)
	}
}

// A frag needed quotes the offending packet's header and first bytes, as
// a router sends it.
func TestUnreachable(t *testing.T) {
	offending := IP{Src: outerDst, Dst: outerSrc, DF: true}.IPIP(IP{Src: innerSrc, Dst: innerDst}.UDP(1, 2, Pattern(1400)))
	router := netip.MustParseAddr("10.245.1.254")
	pkt := Unreachable(router, outerDst, 4, 1400, offending)
	p := decode(t, "frag needed", pkt)
	ip := ipLayer(t, p, false)
	icmp, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if ip.SrcIP.String() != router.String() || ip.DstIP.String() != outerDst.String() || icmp == nil ||
		icmp.TypeCode != layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, 4) || icmp.Seq != 1400 {
		t.Fatalf("frag needed decoded as %+v / %+v", ip, icmp)
	}
	if len(pkt) != header.ICMPErrorMaxSize || !bytes.Equal(pkt[28:], offending[:len(pkt)-28]) {
		t.Errorf("%d bytes quoting %x…, want 576 quoting the offending packet", len(pkt), pkt[28:48])
	}
}

func TestPattern(t *testing.T) {
	if p := Pattern(300); len(p) != 300 || p[0] != 0 || p[255] != 255 || p[256] != 0 {
		t.Errorf("Pattern(300) = %v…", p[:8])
	}
	if len(Pattern(-1)) != 0 {
		t.Error("Pattern of a negative length is not empty")
	}
}

package demo

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// decodeIPIP returns the tcpdump-like decode of an IPIP packet given from
// its outer IPv4 header on: the outer header, then the inner packet, as
// `tcpdump -vn` prints them (the seed walkthrough shows the same):
//
//	10.245.1.2 > 10.245.1.3: (tos 0x0, ttl 64, id 4699, offset 0, flags [DF], proto IPIP (4), length 104)
//	192.168.41.0 > 192.168.42.0: ICMP echo request, id 31937, seq 1, length 64
func decodeIPIP(pkt []byte) (string, error) {
	p := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.DecodeOptions{NoCopy: true})
	outer, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if !ok {
		return "", decodeError(p, "no outer IPv4 header")
	}
	if outer.Protocol != layers.IPProtocolIPv4 {
		return "", fmt.Errorf("not an IPIP packet: the outer header carries protocol %d, want 4", outer.Protocol)
	}
	var inner *layers.IPv4
	for _, l := range p.Layers() {
		if ip, ok := l.(*layers.IPv4); ok && ip != outer {
			inner = ip
			break
		}
	}
	if inner == nil {
		return "", decodeError(p, "the outer header carries protocol 4 but no inner IPv4 header follows")
	}
	return fmt.Sprintf("%s > %s: %s\n%s > %s: %s",
		outer.SrcIP, outer.DstIP, ipFields(outer),
		inner.SrcIP, inner.DstIP, innerSummary(p, inner)), nil
}

// decodeError adds gopacket's reason, if it gave one, to what was missing.
func decodeError(p gopacket.Packet, what string) error {
	if el := p.ErrorLayer(); el != nil {
		return fmt.Errorf("cannot decode the packet: %s: %v", what, el.Error())
	}
	return errors.New("cannot decode the packet: " + what)
}

// ipFields is tcpdump -v's parenthesised IPv4 header summary.
func ipFields(ip *layers.IPv4) string {
	return fmt.Sprintf("(tos 0x%x, ttl %d, id %d, offset %d, flags [%s], proto %s (%d), length %d)",
		ip.TOS, ip.TTL, ip.Id, int(ip.FragOffset)*8, ipFlags(ip.Flags), protoName(ip.Protocol), uint8(ip.Protocol), ip.Length)
}

// ipFlags spells the fragment flags as tcpdump does: "+" for MF, "DF",
// "rsvd" for the evil bit, in that order and unseparated, or "none".
func ipFlags(f layers.IPv4Flag) string {
	var s string
	if f&layers.IPv4MoreFragments != 0 {
		s += "+"
	}
	if f&layers.IPv4DontFragment != 0 {
		s += "DF"
	}
	if f&layers.IPv4EvilBit != 0 {
		s += "rsvd"
	}
	if s == "" {
		return "none"
	}
	return s
}

// protoName is tcpdump's name for an IP protocol.
func protoName(p layers.IPProtocol) string {
	switch p {
	case layers.IPProtocolICMPv4:
		return "ICMP"
	case layers.IPProtocolIPv4:
		return "IPIP"
	case layers.IPProtocolTCP:
		return "TCP"
	case layers.IPProtocolUDP:
		return "UDP"
	}
	return p.String()
}

// innerSummary describes what the inner header carries: ICMP echoes as
// tcpdump prints them, anything else by protocol and length.
func innerSummary(p gopacket.Packet, inner *layers.IPv4) string {
	payload := int(inner.Length) - int(inner.IHL)*4
	icmp, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if !ok || inner.Protocol != layers.IPProtocolICMPv4 {
		return ipFields(inner)
	}
	switch icmp.TypeCode.Type() {
	case layers.ICMPv4TypeEchoRequest:
		return fmt.Sprintf("ICMP echo request, id %d, seq %d, length %d", icmp.Id, icmp.Seq, payload)
	case layers.ICMPv4TypeEchoReply:
		return fmt.Sprintf("ICMP echo reply, id %d, seq %d, length %d", icmp.Id, icmp.Seq, payload)
	}
	return fmt.Sprintf("ICMP %s, length %d", icmp.TypeCode, payload)
}

// hexDump returns a whole IPIP packet, one header a line under a '#'
// comment naming it, in the commented-hex form internal/hexfile reads (and
// so `ipipd explain`): whole, because explain checks the outer total length
// against the bytes it is given, as IP input does.
//
//	# outer IPv4 header (20 bytes), proto 4
//	45 00 00 68 12 5b 40 00 40 04 …
//	# inner IPv4 header (20 bytes), proto 1
//	45 00 00 54 …
//	# ICMP (64 bytes)
//	08 00 …
func hexDump(pkt []byte) string {
	type part struct {
		label string
		data  []byte
	}
	var parts []part
	rest := pkt
	// take cuts off one header of IHL*4 bytes, if the bytes look like one.
	take := func(which string) bool {
		if len(rest) < 20 || rest[0]>>4 != 4 {
			return false
		}
		n := min(int(rest[0]&0x0f)*4, len(rest))
		parts = append(parts, part{fmt.Sprintf("%s IPv4 header (%d bytes), proto %d", which, n, rest[9]), rest[:n]})
		rest = rest[n:]
		return true
	}
	if take("outer") {
		take("inner")
	}
	if len(rest) > 0 {
		label := fmt.Sprintf("%d bytes", len(rest))
		if len(parts) == 2 {
			label = fmt.Sprintf("inner payload (%d bytes)", len(rest))
			if parts[1].data[9] == byte(layers.IPProtocolICMPv4) {
				label = fmt.Sprintf("ICMP (%d bytes)", len(rest))
			}
		}
		parts = append(parts, part{label, rest})
	}
	var b strings.Builder
	for _, pt := range parts {
		b.WriteString("# " + pt.label + "\n")
		for len(pt.data) > 0 {
			line := pt.data[:min(20, len(pt.data))]
			pt.data = pt.data[len(line):]
			for i, c := range line {
				if i > 0 {
					b.WriteByte(' ')
				}
				fmt.Fprintf(&b, "%02x", c)
			}
			b.WriteByte('\n')
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

package encap

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// decodeOuter decodes an outer packet with gopacket, an IPv4 decoder that
// shares no code with ours, and checks what every IPIP packet must be:
// version 4, IHL 5, protocol 4, a header checksum that gopacket's own
// serializer computes identically, and an IPv4 packet inside.
func decodeOuter(t *testing.T, pkt []byte) (outer, inner *layers.IPv4) {
	t.Helper()
	p := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.DecodeOptions{NoCopy: true})
	if err := p.ErrorLayer(); err != nil {
		t.Fatalf("gopacket: %v\n% x", err.Error(), pkt)
	}
	ips := []*layers.IPv4{}
	for _, l := range p.Layers() {
		if ip, ok := l.(*layers.IPv4); ok {
			ips = append(ips, ip)
		}
	}
	if len(ips) < 2 {
		t.Fatalf("gopacket found %d IPv4 layers, want outer and inner", len(ips))
	}
	outer, inner = ips[0], ips[1]
	if outer.Version != 4 || outer.IHL != 5 || outer.Protocol != layers.IPProtocolIPv4 {
		t.Fatalf("outer version %d IHL %d protocol %v", outer.Version, outer.IHL, outer.Protocol)
	}
	if int(outer.Length) != len(pkt) {
		t.Fatalf("outer length %d, packet %d", outer.Length, len(pkt))
	}
	checkHeaderChecksum(t, outer)
	return outer, inner
}

// checkHeaderChecksum serializes a copy of the layer with gopacket's
// checksum computation and compares it with the checksum on the wire.
func checkHeaderChecksum(t *testing.T, ip *layers.IPv4) {
	t.Helper()
	clone := *ip
	buf := gopacket.NewSerializeBuffer()
	if err := clone.SerializeTo(buf, gopacket.SerializeOptions{ComputeChecksums: true}); err != nil {
		t.Fatal(err)
	}
	if clone.Checksum != ip.Checksum {
		t.Fatalf("header checksum %#04x, gopacket computes %#04x", ip.Checksum, clone.Checksum)
	}
}

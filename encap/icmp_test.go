package encap

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/ipipd/ipipd/internal/header"
)

func TestBuildFragNeededDecodes(t *testing.T) {
	buf := innerPacket(1481, 0, 64, true)
	inner := buf[Headroom:]
	out := make([]byte, 1500)
	src := header.Addr4(local)
	n := BuildFragNeeded(out, inner, 1480, src, 99)
	if n == 0 {
		t.Fatal("nothing built")
	}
	p := gopacket.NewPacket(out[:n], layers.LayerTypeIPv4, gopacket.Default)
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	icmp, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if !ok {
		t.Fatalf("no ICMP layer: %v", p)
	}
	checkHeaderChecksum(t, ip)
	if ip.DstIP.String() != "192.168.41.0" || ip.SrcIP.String() != "10.245.1.2" || ip.Id != 99 {
		t.Errorf("ICMP %v > %v id %d", ip.SrcIP, ip.DstIP, ip.Id)
	}
	if icmp.TypeCode != layers.CreateICMPv4TypeCode(3, 4) || icmp.Seq != 1480 {
		t.Errorf("type/code %v, next-hop MTU %d", icmp.TypeCode, icmp.Seq) // gopacket reads the MTU word as Seq
	}
	// gopacket verifies nothing; compare the ICMP checksum with a recomputation.
	if header.Checksum(out[20:n], 0) != 0xffff {
		t.Error("ICMP checksum does not verify")
	}
	if n := BuildHostUnreachable(out, inner, src, 1); n == 0 || out[21] != 1 {
		t.Errorf("host unreachable: n=%d code %d", n, out[21])
	}
	if n := BuildFragNeeded(out, inner[:10], 1480, src, 1); n != 0 {
		t.Error("built an ICMP about 10 bytes of garbage")
	}
}

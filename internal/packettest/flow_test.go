package packettest

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var testFlow = Flow{Src: netip.MustParseAddr("192.168.41.1"), Dst: netip.MustParseAddr("192.168.41.2"),
	SrcPort: 40000, DstPort: 5201, Seq: 0xfffffc00, Ack: 77, ID: 0xfffe, TOS: 0x02, Window: 502,
	Flags: FlagPSH | FlagCWR, Options: Timestamps}

// The segments are what a sender puts on the wire, checked by gopacket
// rather than by this package's own checksum code.
func TestSegmentsDecodeAsASendersWould(t *testing.T) {
	segs := testFlow.Segments(2500, 1000)
	if len(segs) != 3 {
		t.Fatalf("%d segments, want 3", len(segs))
	}
	next := testFlow.Seq
	for i, seg := range segs {
		p := gopacket.NewPacket(seg, layers.LayerTypeIPv4, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if p.ErrorLayer() != nil || ip == nil || tcp == nil {
			t.Fatalf("segment %d does not decode: %v", i, p)
		}
		tcp.SetNetworkLayerForChecksum(ip)
		if err, bad := p.VerifyChecksums(); err != nil || len(bad) != 0 {
			t.Errorf("segment %d: checksums %v %v", i, err, bad)
		}
		if !TCPChecksumWhole(seg) {
			t.Errorf("segment %d: TCPChecksumWhole disagrees with gopacket", i)
		}
		if ip.Id != testFlow.ID+uint16(i) || ip.TOS != testFlow.TOS || ip.Flags != layers.IPv4DontFragment || ip.TTL != 64 {
			t.Errorf("segment %d: IP ID %#x TOS %#x flags %v TTL %d", i, ip.Id, ip.TOS, ip.Flags, ip.TTL)
		}
		if tcp.Seq != next || tcp.Ack != 77 || !tcp.ACK || tcp.PSH != (i == 2) || tcp.CWR != (i == 0) || len(tcp.Options) != 3 {
			t.Errorf("segment %d: seq %d ack %d ACK %v PSH %v CWR %v options %v", i, tcp.Seq, tcp.Ack, tcp.ACK, tcp.PSH, tcp.CWR, tcp.Options)
		}
		next += uint32(len(tcp.Payload))
	}
	if next-testFlow.Seq != 2500 {
		t.Errorf("the segments carry %d payload bytes, want 2500", next-testFlow.Seq)
	}
}

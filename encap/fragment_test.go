package encap

import (
	"bytes"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/ipipd/ipipd/internal/header"
)

func TestFragmentPacketReassembles(t *testing.T) {
	tu := NewTunnel(Params{Local: local}) // no pmtudisc: fragments allowed
	for _, n := range []int{1481, 1500, 2000, 2961, 9000, 65515} {
		for _, mtu := range []int{576, 1280, 1500} {
			buf := innerPacket(n, 0, 64, false)
			for i := Headroom + 28; i < len(buf); i++ {
				buf[i] = byte(i * 7)
			}
			r := tu.Encap(buf, n, remote, NewIDs(9), Path{MTU: mtu})
			if r.Verdict != Fragment {
				t.Fatalf("n=%d mtu=%d: verdict %v", n, mtu, r.Verdict)
			}
			out := make([][]byte, 128)
			for i := range out {
				out[i] = make([]byte, mtu)
			}
			sizes := make([]int, len(out))
			count := FragmentPacket(r.Packet(buf), mtu, out, sizes)
			if count == 0 {
				t.Fatalf("n=%d mtu=%d: no fragments", n, mtu)
			}
			var payload []byte
			id := header.IPv4(r.Packet(buf)).ID()
			for i := 0; i < count; i++ {
				f := out[i][:sizes[i]]
				if len(f) > mtu {
					t.Fatalf("fragment %d is %d bytes, over mtu %d", i, len(f), mtu)
				}
				p := gopacket.NewPacket(f, layers.LayerTypeIPv4, gopacket.DecodeOptions{NoCopy: true, Lazy: false})
				ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
				if ip == nil {
					t.Fatalf("fragment %d does not decode", i)
				}
				checkHeaderChecksum(t, ip)
				last := i == count-1
				if ip.Id != id || int(ip.FragOffset)*8 != len(payload) || (ip.Flags&layers.IPv4MoreFragments == 0) != last ||
					ip.Flags&layers.IPv4DontFragment != 0 || ip.Protocol != layers.IPProtocolIPv4 {
					t.Fatalf("fragment %d: id %d offset %d flags %v", i, ip.Id, ip.FragOffset, ip.Flags)
				}
				if !last && (len(f)-20)%8 != 0 {
					t.Fatalf("fragment %d payload %d not a multiple of 8", i, len(f)-20)
				}
				payload = append(payload, f[20:]...)
			}
			if !bytes.Equal(payload, r.Packet(buf)[20:]) {
				t.Fatalf("n=%d mtu=%d: reassembled payload differs", n, mtu)
			}
		}
	}
}

func TestFragmentPacketRefuses(t *testing.T) {
	df := innerPacket(100, 0, 64, true) // an IPv4 packet with DF, used as the "outer" one
	out := [][]byte{make([]byte, 100), make([]byte, 100)}
	sizes := make([]int, 2)
	if FragmentPacket(df[Headroom:], 60, out, sizes) != 0 {
		t.Error("fragmented a DF packet")
	}
	noDF := innerPacket(1000, 0, 64, false)
	if FragmentPacket(noDF[Headroom:], 60, out, sizes) != 0 {
		t.Error("fragmented into too few buffers")
	}
	if FragmentPacket(noDF[Headroom:], 27, out, sizes) != 0 {
		t.Error("fragmented below the minimum MTU")
	}
	if FragmentPacket(noDF[Headroom:Headroom+10], 600, out, sizes) != 0 {
		t.Error("fragmented garbage")
	}
}

// TestFragmentPacketHostileInput: found by review, not by the datapath
// (which only fragments what Encap built): options that leave no room for
// data must not divide by zero, and no count may go negative.
func TestFragmentPacketHostileInput(t *testing.T) {
	out := [][]byte{make([]byte, 100), make([]byte, 100)}
	sizes := make([]int, 2)
	for _, tc := range []struct{ ihl, mtu int }{{6, 28}, {15, 40}, {15, 67}, {5, 27}} {
		pkt := make([]byte, 200)
		header.IPv4(pkt).Encode(&header.Fields{TotalLength: 200, TTL: 1, Protocol: 4, Src: 1, Dst: 2})
		pkt[0] = 0x40 | byte(tc.ihl)
		if n := FragmentPacket(pkt, tc.mtu, out, sizes); n != 0 {
			t.Errorf("IHL %d, mtu %d: %d fragments, want 0", tc.ihl, tc.mtu, n)
		}
	}
}

func TestEncapRefusesWhatNoOuterHeaderCanCarry(t *testing.T) {
	tu := NewTunnel(Params{Local: local})
	buf := innerPacket(65535, 0, 64, false)
	if r := tu.Encap(buf, 65535, remote, NewIDs(1), Path{MTU: 70000}); r.Verdict != Drop || r.Reason != TooBig {
		t.Fatalf("a 65535-byte inner packet: %v/%v length %d, want drop too_big", r.Verdict, r.Reason, r.Length)
	}
}

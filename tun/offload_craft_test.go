package tun

import (
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// The TCP and UDP tests play the peer 10.245.99.2 by hand: they write the segments it
// would send into the TUN and read the kernel's answers out of it, so that a
// real kernel socket in the namespace has a real connection without a second
// stack.

// tcpFlags are the flags of a crafted segment.
type tcpFlags struct{ syn, ack, psh bool }

// peerSegment builds a TCP segment from testPeer:peerPort to
// testLocal:localPort, encoded by gopacket with valid checksums and DF set,
// as a Linux sender sets it.
func peerSegment(t testing.TB, peerPort, localPort uint16, id uint16, seq, ack uint32, flags tcpFlags, payload []byte, options ...layers.TCPOption) []byte {
	t.Helper()
	ip := &layers.IPv4{
		Version:  4,
		IHL:      5,
		Id:       id,
		Flags:    layers.IPv4DontFragment,
		TTL:      64,
		Protocol: layers.IPProtocolTCP,
		SrcIP:    net.ParseIP(testPeer).To4(),
		DstIP:    net.ParseIP(testLocal).To4(),
	}
	tcp := &layers.TCP{
		SrcPort: layers.TCPPort(peerPort),
		DstPort: layers.TCPPort(localPort),
		Seq:     seq,
		Ack:     ack,
		SYN:     flags.syn,
		ACK:     flags.ack,
		PSH:     flags.psh,
		Window:  65535,
		Options: options,
	}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	out := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(out, opts, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatalf("build TCP segment: %v", err)
	}
	return out.Bytes()
}

// mssOption is the MSS option of a SYN: 1460, for a 1500-byte MTU.
func mssOption() layers.TCPOption {
	return layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}
}

// decodeTCP returns the TCP layer of pkt, nil if it has none.
func decodeTCP(pkt []byte) *layers.TCP {
	tcp, _ := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.Default).Layer(layers.LayerTypeTCP).(*layers.TCP)
	return tcp
}

// writeOne writes pkt at testOffset as a batch of one and fails the test
// unless it is accepted.
func writeOne(t *testing.T, dev Device, pkt []byte) {
	t.Helper()
	if n, err := dev.Write([][]byte{packetAt(pkt)}, testOffset); n != 1 || err != nil {
		t.Fatalf("Write = %d, %v; want 1, nil", n, err)
	}
}

// peerDatagram builds a UDP datagram from testPeer:peerPort to
// testLocal:localPort, encoded by gopacket with valid checksums.
func peerDatagram(t testing.TB, peerPort, localPort uint16, id uint16, payload []byte) []byte {
	t.Helper()
	ip := &layers.IPv4{
		Version:  4,
		IHL:      5,
		Id:       id,
		Flags:    layers.IPv4DontFragment,
		TTL:      64,
		Protocol: layers.IPProtocolUDP,
		SrcIP:    net.ParseIP(testPeer).To4(),
		DstIP:    net.ParseIP(testLocal).To4(),
	}
	udp := &layers.UDP{SrcPort: layers.UDPPort(peerPort), DstPort: layers.UDPPort(localPort)}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	out := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(out, opts, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatalf("build UDP datagram: %v", err)
	}
	return out.Bytes()
}

// roomyPacketAt is packetAt with OffloadReadRoom bytes of capacity after the
// offset, the room GRO appends coalesced payloads into, as the datapath's
// receive buffers have.
func roomyPacketAt(pkt []byte) []byte {
	buf := make([]byte, testOffset+len(pkt), testOffset+OffloadReadRoom)
	fillHeadroom(buf)
	copy(buf[testOffset:], pkt)
	return buf
}

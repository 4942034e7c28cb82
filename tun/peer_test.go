package tun

import (
	"bytes"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// The tests play the peer 10.245.99.2 by hand: they write the packets it
// would send into the TUN and read the kernel's answers out of it, so that
// a real kernel socket in the namespace has a real connection without a
// second stack. The packets are encoded and decoded by gopacket, so that
// the tests trust neither wireguard's nor our header code.

// fromPeer encodes transport and payload after an IPv4 header from
// testPeer to testLocal with IP ID id and flags, with the lengths and
// checksums gopacket computes (a TCP or UDP checksum over the IPv4
// pseudo-header).
func fromPeer(t testing.TB, id uint16, flags layers.IPv4Flag, transport gopacket.SerializableLayer, payload []byte) []byte {
	t.Helper()
	ip := &layers.IPv4{
		Version: 4,
		IHL:     5,
		Id:      id,
		Flags:   flags,
		TTL:     64,
		SrcIP:   net.ParseIP(testPeer).To4(),
		DstIP:   net.ParseIP(testLocal).To4(),
	}
	switch l := transport.(type) {
	case *layers.TCP:
		ip.Protocol = layers.IPProtocolTCP
		if err := l.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
	case *layers.UDP:
		ip.Protocol = layers.IPProtocolUDP
		if err := l.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
	case *layers.ICMPv4:
		ip.Protocol = layers.IPProtocolICMPv4
	}
	out := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(out, opts, ip, transport, gopacket.Payload(payload)); err != nil {
		t.Fatalf("build %v packet: %v", transport.LayerType(), err)
	}
	return out.Bytes()
}

// echoRequest builds an ICMP echo request from the peer to the TUN address.
func echoRequest(t testing.TB, seq uint16, payload []byte) []byte {
	t.Helper()
	icmp := &layers.ICMPv4{
		TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0),
		Id:       0x1234,
		Seq:      seq,
	}
	return fromPeer(t, 0, 0, icmp, payload)
}

// isEchoReply decodes pkt with gopacket and reports whether it is the
// kernel's echo reply to echoRequest(seq, payload).
func isEchoReply(pkt []byte, seq uint16, payload []byte) bool {
	p := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.Default)
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	icmp, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if ip == nil || icmp == nil {
		return false
	}
	return ip.SrcIP.String() == testLocal &&
		ip.DstIP.String() == testPeer &&
		icmp.TypeCode.Type() == layers.ICMPv4TypeEchoReply &&
		icmp.Id == 0x1234 && icmp.Seq == seq &&
		bytes.Equal(icmp.Payload, payload)
}

// tcpFlags are the flags of a crafted segment.
type tcpFlags struct{ syn, ack, psh bool }

// peerSegment builds a TCP segment from testPeer:peerPort to
// testLocal:localPort, with DF set, as a Linux sender sets it.
func peerSegment(t testing.TB, peerPort, localPort uint16, id uint16, seq, ack uint32, flags tcpFlags, payload []byte, options ...layers.TCPOption) []byte {
	t.Helper()
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
	return fromPeer(t, id, layers.IPv4DontFragment, tcp, payload)
}

// mssOption is the MSS option of a SYN: 1460, for a 1500-byte MTU.
func mssOption() layers.TCPOption {
	return layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}
}

// peerDatagram builds a UDP datagram from testPeer:peerPort to
// testLocal:localPort, with DF set.
func peerDatagram(t testing.TB, peerPort, localPort uint16, id uint16, payload []byte) []byte {
	t.Helper()
	udp := &layers.UDP{SrcPort: layers.UDPPort(peerPort), DstPort: layers.UDPPort(localPort)}
	return fromPeer(t, id, layers.IPv4DontFragment, udp, payload)
}

// writeOne writes pkt at testOffset as a batch of one and fails the test
// unless it is accepted.
func writeOne(t *testing.T, dev Device, pkt []byte) {
	t.Helper()
	if n, err := dev.Write([][]byte{packetAt(pkt)}, testOffset); n != 1 || err != nil {
		t.Fatalf("Write = %d, %v; want 1, nil", n, err)
	}
}

// decodeTCP returns the TCP layer of pkt, nil if it has none.
func decodeTCP(pkt []byte) *layers.TCP {
	tcp, _ := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.Default).Layer(layers.LayerTypeTCP).(*layers.TCP)
	return tcp
}

// isUDPTo and isTCPTo match packets by transport and destination port.
func isUDPTo(port layers.UDPPort) func([]byte) bool {
	return func(pkt []byte) bool {
		udp, _ := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.Default).Layer(layers.LayerTypeUDP).(*layers.UDP)
		return udp != nil && udp.DstPort == port
	}
}

func isTCPTo(port layers.TCPPort, syn, ack bool) func([]byte) bool {
	return func(pkt []byte) bool {
		tcp := decodeTCP(pkt)
		return tcp != nil && tcp.DstPort == port && tcp.SYN == syn && tcp.ACK == ack
	}
}

// connectThroughTUN dials testPeer:peerPort from the test's namespace and
// plays the peer's side of the handshake on dev (a SYN-ACK with ISN 7000
// and an MSS of 1460). It returns the connected socket and the SYN the
// kernel sent, and stops the test if the connection is not up in time.
func connectThroughTUN(t *testing.T, dev Device, peerPort uint16) (net.Conn, *layers.TCP) {
	t.Helper()
	dialed := make(chan net.Conn, 1)
	goInNetns(t, func() {
		conn, err := net.DialTimeout("tcp4", net.JoinHostPort(testPeer, strconv.Itoa(int(peerPort))), testTimeout)
		if err != nil {
			t.Errorf("connect to %s:%d: %v", testPeer, peerPort, err)
		}
		dialed <- conn
	})
	syn := decodeTCP(readOneMatching(t, dev, isTCPTo(layers.TCPPort(peerPort), true, false)))
	writeOne(t, dev, peerSegment(t, peerPort, uint16(syn.SrcPort), 1, 7000, syn.Seq+1, tcpFlags{syn: true, ack: true}, nil, mssOption()))
	var conn net.Conn
	select {
	case conn = <-dialed:
	case <-time.After(testTimeout):
	}
	if conn == nil {
		t.FailNow()
	}
	return conn, syn
}

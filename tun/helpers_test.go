package tun

import (
	"bytes"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// The test topology, inside a fresh network namespace: the TUN device holds
// 10.245.99.1/24, and 10.245.99.2 is a peer that only exists as packets the
// test reads from or writes into the TUN.
const (
	testDevice  = "ipipdt0"
	testLocal   = "10.245.99.1"
	testAddress = testLocal + "/24"
	testPeer    = "10.245.99.2"

	// testOffset is the room kept in front of each packet, as the datapath
	// keeps room for the outer header; the value only needs to be non-zero
	// so that the tests see the headroom left alone.
	testOffset = 20
	// headroomFill marks the headroom, to catch a Read or Write touching it.
	headroomFill = 0xEE
	// testBufLen holds what either backend reads: an offload Read needs
	// room for a whole GSO super-packet in each buffer.
	testBufLen  = testOffset + OffloadReadRoom
	testTimeout = 5 * time.Second
)

// newBatch allocates a batch of n buffers with the headroom marked.
func newBatch(n int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, testBufLen)
		fillHeadroom(bufs[i])
	}
	return bufs, make([]int, n)
}

func fillHeadroom(buf []byte) {
	for i := range buf[:testOffset] {
		buf[i] = headroomFill
	}
}

func headroomIntact(buf []byte) bool {
	return bytes.Count(buf[:testOffset], []byte{headroomFill}) == testOffset
}

// packetAt copies pkt into a fresh buffer at testOffset, with marked headroom.
func packetAt(pkt []byte) []byte {
	buf := make([]byte, testOffset+len(pkt))
	fillHeadroom(buf)
	copy(buf[testOffset:], pkt)
	return buf
}

// isEchoReplyNoDecode checks the protocol and ICMP type bytes directly,
// because decoding with gopacket would allocate inside the measured function.
func isEchoReplyNoDecode(pkt []byte) bool {
	const protocolOffset, ihlMask, echoReply = 9, 0x0f, 0
	if len(pkt) < 20 || pkt[0]>>4 != 4 {
		return false
	}
	ihl := int(pkt[0]&ihlMask) * 4
	return pkt[protocolOffset] == byte(layers.IPProtocolICMPv4) && len(pkt) > ihl && pkt[ihl] == echoReply
}

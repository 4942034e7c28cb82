package rawsock_test

import (
	"bytes"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/rawsock"
)

// TestSendReceiveBatch sends a batch of handcrafted protocol-4 packets of
// several sizes across the veth and checks that each arrives byte for byte,
// outer header included, tagged with vb's ifindex.
func TestSendReceiveBatch(t *testing.T) {
	l := newLink(t, rawsock.SenderOptions{}, rawsock.ReceiverOptions{})
	sizes := []int{28, 64, 576, 1400, 1480} // inner lengths; 1480 fills the 1500 MTU
	var sent [][]byte
	for i, size := range sizes {
		sent = append(sent, ipipPacket(addrA, addrB, uint16(0x100+i), i%2 == 0, size))
	}
	n, err := l.s.Write(sent)
	if n != len(sent) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(sent))
	}

	got, links := readN(t, l.r, rawsock.NewBatch(rawsock.DefaultBatchSize, rawsock.MaxPacketSize), len(sent))
	byID := map[uint16][]byte{}
	for i, pkt := range got {
		if links[i] != l.vbLink {
			t.Errorf("packet %d arrived on ifindex %d, want vb's %d", i, links[i], l.vbLink)
		}
		byID[packetID(pkt)] = pkt
	}
	for _, want := range sent {
		pkt := byID[packetID(want)]
		if !bytes.Equal(pkt, want) {
			t.Errorf("packet ID %#x:\n got %x\nwant %x", packetID(want), pkt, want)
			continue
		}
		checkDecodes(t, pkt)
	}
}

// checkDecodes decodes a received packet with gopacket, an independent
// decoder, and checks it is IPv4 in IPv4 carrying UDP.
func checkDecodes(t *testing.T, pkt []byte) {
	t.Helper()
	p := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.Default)
	if e := p.ErrorLayer(); e != nil {
		t.Errorf("gopacket: %v", e.Error())
		return
	}
	var kinds []gopacket.LayerType
	for _, layer := range p.Layers() {
		kinds = append(kinds, layer.LayerType())
	}
	want := []gopacket.LayerType{layers.LayerTypeIPv4, layers.LayerTypeIPv4, layers.LayerTypeUDP}
	if len(kinds) < 3 || kinds[0] != want[0] || kinds[1] != want[1] || kinds[2] != want[2] {
		t.Errorf("layers %v, want %v first", kinds, want)
	}
	outer := p.Layers()[0].(*layers.IPv4)
	if outer.SrcIP.String() != addrA.String() || outer.DstIP.String() != addrB.String() || outer.Protocol != layers.IPProtocolIPv4 {
		t.Errorf("outer header %v -> %v proto %v", outer.SrcIP, outer.DstIP, outer.Protocol)
	}
}

// TestKernelFillsHeader pins what raw_send_hdrinc changes in the caller's
// header: it always rewrites Total Length and the checksum, fills a zero
// source, and leaves ID 0 on a DF packet.
func TestKernelFillsHeader(t *testing.T) {
	l := newLink(t, rawsock.SenderOptions{}, rawsock.ReceiverOptions{})
	pkt := ipipPacket(addrA, addrB, 0, true, 64)
	pkt[2], pkt[3] = 0x12, 0x34   // wrong total length
	pkt[10], pkt[11] = 0xde, 0xad // wrong checksum
	clear(pkt[12:16])             // no source
	if err := l.s.WritePacket(pkt); err != nil {
		t.Fatal(err)
	}
	got, _ := readN(t, l.r, rawsock.NewBatch(4, rawsock.MaxPacketSize), 1)
	h := got[0][:20]
	if total := int(h[2])<<8 | int(h[3]); total != len(pkt) {
		t.Errorf("total length %d, want %d (always rewritten)", total, len(pkt))
	}
	if header.Checksum(h, 0) != 0xffff {
		t.Errorf("header checksum does not verify: %x", h)
	}
	if id := packetID(h); id != 0 {
		t.Errorf("ID %#x, want 0: the kernel leaves ID 0 on DF packets", id)
	}
	if src := net.IP(h[12:16]); !src.Equal(addrA.AsSlice()) {
		t.Errorf("source %v, want the route's source %v", src, addrA)
	}
}

// TestReadDeadlineAndClose checks the errors a blocked Read returns.
func TestReadDeadlineAndClose(t *testing.T) {
	l := newLink(t, rawsock.SenderOptions{}, rawsock.ReceiverOptions{})
	b := rawsock.NewBatch(2, rawsock.MaxPacketSize)
	l.r.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := l.r.Read(b); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Read after deadline = %d, %v; want 0, deadline exceeded", n, err)
	}
	l.r.SetReadDeadline(time.Time{})

	done := make(chan error, 1)
	go func() {
		_, err := l.r.Read(b)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	l.r.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a blocked Read")
	}
	if _, err := l.s.Write([][]byte{ipipPacket(addrA, addrB, 1, true, 64)}); err != nil {
		t.Errorf("Write with the receiver closed: %v", err)
	}
	l.s.Close()
	if _, err := l.s.Write([][]byte{ipipPacket(addrA, addrB, 1, true, 64)}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v, want net.ErrClosed", err)
	}
}

// TestReceiverOptions checks the forced buffer size, a small buffer that
// truncates, and SO_BINDTODEVICE.
func TestReceiverOptions(t *testing.T) {
	l := newLink(t, rawsock.SenderOptions{}, rawsock.ReceiverOptions{Dev: "vb", ReadBuffer: 6 << 20})
	if got := l.r.ReadBuffer(); got != 2*(6<<20) {
		t.Errorf("ReadBuffer() = %d, want %d (SO_RCVBUFFORCE as root, doubled by the kernel)", got, 2*(6<<20))
	}
	pkt := ipipPacket(addrA, addrB, 7, true, 200)
	if err := l.s.WritePacket(pkt); err != nil {
		t.Fatal(err)
	}
	b := rawsock.NewBatch(1, 100)
	l.r.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := l.r.Read(b)
	if n != 1 || err != nil {
		t.Fatalf("Read = %d, %v", n, err)
	}
	if !b.Truncated[0] || b.Sizes[0] != 100 || !bytes.Equal(b.Bufs[0], pkt[:100]) {
		t.Errorf("small buffer: truncated %v size %d, want true 100 and the packet's first 100 bytes", b.Truncated[0], b.Sizes[0])
	}

	var err2 error
	l.b.Do(func() error {
		_, err2 = rawsock.NewReceiver(rawsock.ReceiverOptions{Dev: "nosuchdev0"})
		return nil
	})
	if err2 == nil {
		t.Error("NewReceiver bound to a missing device succeeded")
	}
}

package tun

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// readBatchMatching reads batches from dev until one holds a packet match
// accepts, and returns copies of all the packets of that batch. It fails the
// test after testTimeout, closing the device to stop the reader.
func readBatchMatching(t *testing.T, dev Device, match func(pkt []byte) bool) [][]byte {
	t.Helper()
	type result struct {
		pkts [][]byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		bufs, sizes := newBatch(dev.BatchSize())
		for {
			n, err := dev.Read(bufs, sizes, testOffset)
			var pkts [][]byte
			matched := false
			for i := range n {
				if !headroomIntact(bufs[i]) {
					done <- result{err: errors.New("Read wrote into the headroom before the offset")}
					return
				}
				pkt := bufs[i][testOffset : testOffset+sizes[i]]
				pkts = append(pkts, bytes.Clone(pkt))
				matched = matched || match(pkt)
			}
			if matched {
				done <- result{pkts: pkts}
				return
			}
			if err != nil {
				if IsClosed(err) {
					done <- result{err: err}
					return
				}
				// Not fatal by the Device contract; say it, keep reading.
				t.Logf("Read from %s: %v", dev.Name(), err)
			}
		}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("reading from %s: %v", dev.Name(), r.err)
		}
		return r.pkts
	case <-time.After(testTimeout):
		dev.Close()
		<-done
		t.Fatalf("no matching packet read from %s within %v", dev.Name(), testTimeout)
		return nil
	}
}

// readOneMatching is readBatchMatching for one packet: the first match.
func readOneMatching(t *testing.T, dev Device, match func(pkt []byte) bool) []byte {
	t.Helper()
	for _, pkt := range readBatchMatching(t, dev, match) {
		if match(pkt) {
			return pkt
		}
	}
	panic("unreachable: readBatchMatching returned a batch without a match")
}

// decodeChecked decodes pkt with gopacket and fails the test unless it is a
// whole IPv4 packet whose IPv4 and transport checksums gopacket finds valid,
// so the test relies on neither wireguard's nor our checksum code.
func decodeChecked(t *testing.T, pkt []byte) gopacket.Packet {
	t.Helper()
	p := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.Default)
	if errLayer := p.ErrorLayer(); errLayer != nil {
		t.Fatalf("gopacket cannot decode a packet read: %v", errLayer.Error())
	}
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if ip == nil || int(ip.Length) != len(pkt) {
		t.Fatalf("not a whole IPv4 packet of %d bytes: %v", len(pkt), p)
	}
	// The TCP and UDP checksums cover a pseudo-header from the IPv4 layer.
	if udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
		udp.SetNetworkLayerForChecksum(ip)
	}
	if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
		tcp.SetNetworkLayerForChecksum(ip)
	}
	err, mismatches := p.VerifyChecksums()
	if err != nil {
		t.Fatalf("verify checksums: %v", err)
	}
	for _, m := range mismatches {
		t.Errorf("bad %s checksum: %#04x, want %#04x", m.Layer.LayerType(), m.Actual, m.Correct)
	}
	if udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && udp.Checksum == 0 {
		t.Errorf("UDP checksum is 0 (none); the kernel asked for one to be filled in")
	}
	return p
}

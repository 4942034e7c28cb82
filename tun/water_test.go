package tun

import (
	"strings"
	"testing"

	"github.com/ipipd/ipipd/internal/lab"
)

// A packet the kernel refuses does not stop the batch, and its error names
// the packet and is not mistaken for a closed device.
func TestWaterWriteCarriesOnAfterARefusedPacket(t *testing.T) {
	dev := waterBackend.open(t)
	payload := []byte("batch")
	// The kernel tells IPv4 from IPv6 by the version nibble of a NO_PI TUN
	// packet; version 0 is neither and is refused with EINVAL.
	notIP := packetAt(make([]byte, 40))
	batch := [][]byte{
		packetAt(echoRequest(t, 1, payload)),
		notIP,
		packetAt(echoRequest(t, 2, payload)),
	}

	n, err := dev.Write(batch, testOffset)
	if n != 2 {
		t.Errorf("Write wrote %d packets, want 2 (all but the refused one)", n)
	}
	if err == nil || !strings.Contains(err.Error(), "packet 1 of 3") {
		t.Errorf("Write error = %v, want one naming packet 1 of 3", err)
	}
	if IsClosed(err) {
		t.Errorf("IsClosed(%v) = true for a refused packet", err)
	}
	readOneMatching(t, dev, func(pkt []byte) bool { return isEchoReply(pkt, 1, payload) })
	readOneMatching(t, dev, func(pkt []byte) bool { return isEchoReply(pkt, 2, payload) })
}

// Read refuses a batch it cannot fill, without blocking.
func TestWaterReadRejectsUnusableBatches(t *testing.T) {
	dev := waterBackend.open(t)
	bufs, sizes := newBatch(1)
	checkReadRefuses(t, dev, []unusableRead{
		{"no buffers", nil, sizes, 0},
		{"no sizes", bufs, nil, 0},
		{"offset at the end", bufs, sizes, len(bufs[0])},
		{"negative offset", bufs, sizes, -1},
	})
}

// OpenWater refuses a name some device already has, instead of failing with
// the kernel's bare EINVAL or taking over a persistent TUN.
func TestOpenWaterRefusesATakenName(t *testing.T) {
	lab.EnterFresh(t)
	dev, err := OpenWater("lo")
	if err == nil {
		dev.Close()
		t.Fatalf("OpenWater(\"lo\") succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "already exists") {
		t.Errorf("OpenWater(\"lo\") error = %q, want it to say the name already exists", err)
	}
}

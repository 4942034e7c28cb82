package tun

import (
	"testing"
)

// The datapath calls Read and Write once per batch forever; in steady state
// neither allocates. Each run writes an echo request and reads the reply.
func TestOffloadReadWriteAllocateNothing(t *testing.T) {
	dev := openOffloadTestDevice(t)
	payload := []byte("no allocations")
	request := [][]byte{packetAt(echoRequest(t, 7, payload))}
	bufs, sizes := newOffloadBatch(1)
	var failures []string
	allocs := testing.AllocsPerRun(200, func() {
		if n, err := dev.Write(request, testOffset); n != 1 || err != nil {
			failures = append(failures, "write failed")
			return
		}
		// A quiet namespace with IPv6 off sends nothing else into the TUN,
		// so the next packet is the reply.
		n, err := dev.Read(bufs, sizes, testOffset)
		if n != 1 || err != nil || !isEchoReplyNoDecode(bufs[0][testOffset:testOffset+sizes[0]]) {
			failures = append(failures, "read did not return the echo reply")
		}
	})
	if len(failures) > 0 {
		t.Fatalf("%d of the runs went wrong, first: %s", len(failures), failures[0])
	}
	if allocs != 0 {
		t.Errorf("Write+Read of one packet allocate %v times per call, want 0", allocs)
	}
}

// GRO on Write keeps its flow tables from call to call: coalescing a batch
// allocates nothing either. The batch is rebuilt from a template each run,
// because Write leaves coalesced packets changed.
func TestOffloadCoalescingWriteAllocatesNothing(t *testing.T) {
	dev := openOffloadTestDevice(t)
	const count = 8
	templates := make([][]byte, count)
	bufs := make([][]byte, count)
	for i := range bufs {
		templates[i] = peerDatagram(t, 40004, 9, uint16(i), pattern(1000))
		bufs[i] = roomyPacketAt(templates[i])
	}
	var failures []string
	allocs := testing.AllocsPerRun(200, func() {
		for i, tmpl := range templates {
			bufs[i] = bufs[i][:testOffset+len(tmpl)]
			copy(bufs[i][testOffset:], tmpl)
		}
		if n, err := dev.Write(bufs, testOffset); n != count || err != nil {
			failures = append(failures, "write failed")
		}
	})
	if len(failures) > 0 {
		t.Fatalf("%d of the runs went wrong, first: %s", len(failures), failures[0])
	}
	if allocs != 0 && raceEnabled {
		t.Logf("a coalescing Write of %d datagrams allocates %v times per call under the race detector (0 without)", count, allocs)
		return
	}
	if allocs != 0 {
		t.Errorf("a coalescing Write of %d datagrams allocates %v times per call, want 0", count, allocs)
	}
}

package tun

import "testing"

// GRO on Write keeps its flow tables from call to call: coalescing a batch
// allocates nothing either. The batch is rebuilt from a template each run,
// because Write leaves coalesced packets changed.
func TestOffloadCoalescingWriteAllocatesNothing(t *testing.T) {
	dev := offloadBackend.open(t)
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

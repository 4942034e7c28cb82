package rawsock_test

import (
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/rawsock"
)

// TestReadWriteNoAllocs proves the steady-state Write and Read allocate
// nothing: a batch of 32 packets goes out and is read back per run.
func TestReadWriteNoAllocs(t *testing.T) {
	l := newLink(t, rawsock.SenderOptions{}, rawsock.ReceiverOptions{})
	const n = 32
	pkts := make([][]byte, n)
	for i := range pkts {
		pkts[i] = ipipPacket(addrA, addrB, uint16(i+1), true, 64)
	}
	batch := rawsock.NewBatch(n, rawsock.MaxPacketSize)
	l.r.SetReadDeadline(time.Now().Add(time.Minute)) // a lost packet fails instead of hanging
	var failed error
	roundTrip := func() {
		if _, err := l.s.Write(pkts); err != nil {
			failed = err
			return
		}
		for got := 0; got < n; {
			k, err := l.r.Read(batch)
			if err != nil {
				failed = err
				return
			}
			got += k
		}
	}
	roundTrip() // warm up: first-use costs of the poller are not steady state
	if allocs := testing.AllocsPerRun(100, roundTrip); allocs != 0 {
		t.Errorf("Write+Read of %d packets: %v allocations per run, want 0", n, allocs)
	}
	if failed != nil {
		t.Fatal(failed)
	}
	one := pkts[0]
	if allocs := testing.AllocsPerRun(100, func() {
		if err := l.s.WritePacket(one); err != nil {
			failed = err
		}
	}); allocs != 0 {
		t.Errorf("WritePacket: %v allocations, want 0", allocs)
	}
	if failed != nil {
		t.Fatal(failed)
	}
}

// TestWriteErrorNoAllocs checks that a refused packet costs no allocation
// either: a flood of oversize packets must not load the GC.
func TestWriteErrorNoAllocs(t *testing.T) {
	l := newLink(t, rawsock.SenderOptions{}, rawsock.ReceiverOptions{})
	big := [][]byte{ipipPacket(addrA, addrB, 1, true, 2000)}
	var err error
	if allocs := testing.AllocsPerRun(100, func() { _, err = l.s.Write(big) }); allocs != 0 {
		t.Errorf("refused Write: %v allocations, want 0", allocs)
	}
	if err == nil {
		t.Fatal("oversize packet was not refused")
	}
}

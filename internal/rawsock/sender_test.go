package rawsock_test

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipipd/ipipd/internal/rawsock"
)

// TestWritePerPacketErrors checks the skip-and-continue contract: Write
// stops at a packet the kernel refuses, reports it, and the rest go out
// when the caller resumes after it. Each case pins a kernel fact.
func TestWritePerPacketErrors(t *testing.T) {
	l := newLink(t, rawsock.SenderOptions{}, rawsock.ReceiverOptions{})
	// A path MTU below the device's: 1400 toward addrB from namespace a.
	l.a.Run(t, "ip", "route", "add", addrB.String()+"/32", "dev", "va", "mtu", "1400")

	tests := []struct {
		name    string
		bad     []byte
		wantErr error // nil: the packet goes out (perhaps fragmented)
	}{
		// raw_send_hdrinc refuses anything above the device MTU, DF or not:
		// the kernel never fragments a header-included packet beyond it.
		{"above device MTU with DF", ipipPacket(addrA, addrB, 1, true, 1600), unix.EMSGSIZE},
		{"above device MTU without DF", ipipPacket(addrA, addrB, 2, false, 1600), unix.EMSGSIZE},
		// Between the path MTU and the device MTU the DF bit decides.
		{"above path MTU with DF", ipipPacket(addrA, addrB, 3, true, 1430), unix.EMSGSIZE},
		{"above path MTU without DF", ipipPacket(addrA, addrB, 4, false, 1430), nil},
		{"shorter than a header", make([]byte, 19), unix.EINVAL},
		{"IHL past the end", func() []byte {
			p := ipipPacket(addrA, addrB, 5, true, 28)[:24]
			p[0] = 0x4f // IHL 15: 60 bytes
			return p
		}(), unix.EINVAL},
	}
	batch := rawsock.NewBatch(rawsock.DefaultBatchSize, rawsock.MaxPacketSize)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := uint16(0x1000 + 16*i)
			good := func(k uint16) []byte { return ipipPacket(addrA, addrB, id+k, true, 100) }
			pkts := [][]byte{good(1), good(2), tt.bad, good(3)}
			sent, err := l.s.Write(pkts)
			want := 4
			if tt.wantErr != nil {
				if sent != 2 || !errors.Is(err, tt.wantErr) {
					t.Fatalf("Write = %d, %v; want 2, %v", sent, err, tt.wantErr)
				}
				// The caller counts pkts[2] and resumes after it.
				if n, err := l.s.Write(pkts[3:]); n != 1 || err != nil {
					t.Fatalf("resumed Write = %d, %v; want 1, nil", n, err)
				}
				want = 3
			} else if sent != 4 || err != nil {
				t.Fatalf("Write = %d, %v; want 4, nil", sent, err)
			}
			got, _ := readN(t, l.r, batch, want)
			for _, pkt := range got {
				if tt.wantErr == nil && packetID(pkt) == packetID(tt.bad) && len(pkt) != len(tt.bad) {
					// The kernel fragmented it; reassembly happens before raw delivery.
					t.Errorf("fragmented packet arrived as %d bytes, want reassembled %d", len(pkt), len(tt.bad))
				}
			}
		})
	}
}

// TestWriteSplitsBatches sends more packets than BatchSize in one Write.
func TestWriteSplitsBatches(t *testing.T) {
	l := newLink(t, rawsock.SenderOptions{BatchSize: 4}, rawsock.ReceiverOptions{})
	var pkts [][]byte
	for i := range 10 {
		pkts = append(pkts, ipipPacket(addrA, addrB, uint16(i+1), true, 64))
	}
	if n, err := l.s.Write(pkts); n != 10 || err != nil {
		t.Fatalf("Write = %d, %v; want 10, nil", n, err)
	}
	got, _ := readN(t, l.r, rawsock.NewBatch(3, rawsock.MaxPacketSize), 10)
	seen := map[uint16]bool{}
	for _, pkt := range got {
		seen[packetID(pkt)] = true
	}
	if len(seen) != 10 {
		t.Errorf("received %d distinct packets, want 10", len(seen))
	}
	if n, err := l.s.Write(nil); n != 0 || err != nil {
		t.Errorf("Write(nil) = %d, %v", n, err)
	}
}

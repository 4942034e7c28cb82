package outerlab

import (
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// StartFlood starts the receive prototypes' sender on a goroutine of its
// own: 1400-byte IPIP packets (1414-byte frames, 16 inner flows) from A on
// a packet socket with sendmmsg × 64 until stop. It returns once the
// sender is sending, with a function that waits for it to end after stop
// is set, or with the error that kept it from starting.
func StartFlood(l *Lab, stop *atomic.Bool) (wait func(), err error) {
	started := make(chan error, 1)
	var done sync.WaitGroup
	done.Add(1)
	go func() { defer done.Done(); flood(l, stop, started) }()
	if err := <-started; err != nil {
		return nil, err
	}
	return done.Wait, nil
}

func flood(l *Lab, stop *atomic.Bool, started chan<- error) {
	err := In(l.A, func() error {
		bMAC, _ := MAC(l.B, "vB")
		aMAC, _ := MAC(l.A, "vA")
		fd, err := PacketSocket("vA", false)
		if err != nil {
			started <- err
			return err
		}
		defer unix.Close(fd)
		m := NewMmsg(64, 1414, false)
		src, dst := netip.MustParseAddr(l.AAddr), netip.MustParseAddr(l.BAddr)
		for i := range m.Bufs {
			EtherHeader(m.Bufs[i], bMAC, aMAC)
			n := IPIPTCP(m.Bufs[i][14:], src, dst, uint16(i+1), uint32(i), 1340, false)
			m.Bufs[i][14+40+1] = byte(i % 16) // inner source port: 16 flows
			m.SetLen(i, 14+n)
		}
		started <- nil
		for !stop.Load() {
			m.Call(unix.SYS_SENDMMSG, fd, len(m.Hdrs))
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "flood:", err)
	}
}

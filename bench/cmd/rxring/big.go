package main

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"

	lab "github.com/ipipd/ipipd/bench/cmd/outerlab"
)

// big sends one 63 420-byte IPIP packet from A as a GSO super-packet (the
// packet socket with a virtio-net header and the tcx IPIP mark, see
// bench/cmd/outergso), which crosses the veth whole as a GRO-merged packet
// from a NIC would, and prints what B's ring shows for it.
func big(l *lab.Lab) {
	ringCh := make(chan *lab.Ring, 1)
	errCh := make(chan error, 1)
	go func() {
		errCh <- lab.In(l.B, func() error {
			fd, err := lab.RawReceiver()
			if err != nil {
				return err
			}
			lab.DropAll(fd)
			r, err := lab.OpenRing(lab.RingOptions{Dev: "vB", Dst: netip.MustParseAddr(l.BAddr), BlockSize: 1 << 20, Blocks: 4, TimeoutMs: 1})
			if err != nil {
				return err
			}
			ringCh <- r
			return nil
		})
	}()
	var r *lab.Ring
	select {
	case r = <-ringCh:
	case err := <-errCh:
		lab.Fatal("ring: %v", err)
	}
	err := lab.SendSuperPacket(l)
	if err != nil {
		lab.Fatal("send: %v", err)
	}
	got := 0
	for tries := 0; tries < 10 && got == 0; tries++ {
		got = r.Next(100, func(p lab.Packet) {
			fmt.Printf("ring frame: tp_len %d, tp_snaplen %d, tp_status %#x (CSUMNOTREADY %v, CSUM_VALID %v, GSO_TCP %v)\n",
				p.Len, len(p.Data), p.Status, p.Status&unix.TP_STATUS_CSUMNOTREADY != 0,
				p.Status&unix.TP_STATUS_CSUM_VALID != 0, p.Status&(1<<8) != 0)
		}, nil)
	}
	if got == 0 {
		fmt.Println("nothing reached the ring")
	}
}

package main

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	lab "github.com/ipipd/ipipd/bench/cmd/outerlab"
)

// features prints the offload features of both ends that attaching XDP
// moves, and vA's largest MTU.
func features(l *lab.Lab, when string) {
	keep := []string{"generic-receive-offload", "rx-gro-list", "rx-udp-gro-forwarding", "tcp-segmentation-offload",
		"generic-segmentation-offload", "tx-ipxip4-segmentation"}
	for _, e := range []struct{ ns, dev string }{{l.A, "vA"}, {l.B, "vB"}} {
		out, _ := lab.Output("ip", "netns", "exec", e.ns, "ethtool", "-k", e.dev)
		var got []string
		for _, line := range strings.Split(out, "\n") {
			for _, k := range keep {
				if strings.HasPrefix(line, k+":") {
					got = append(got, strings.Join(strings.Fields(line), " "))
				}
			}
		}
		link, _ := lab.Output("ip", "-n", e.ns, "-d", "link", "show", e.dev)
		maxmtu := ""
		if f := strings.Fields(link); len(f) > 0 {
			for i, w := range f {
				if w == "maxmtu" && i+1 < len(f) {
					maxmtu = f[i+1]
				}
			}
		}
		fmt.Printf("  %-28s %s: %s; maxmtu %s\n", when, e.dev, strings.Join(got, ", "), maxmtu)
	}
}

// superPacket sends one 63 420-byte IPIP TCP super-packet from A (as
// bench/cmd/rxring -mode big) and returns how many packets vB counted.
func superPacket(l *lab.Lab) (uint64, error) {
	w0 := lab.LinkStat(l.B, "vB", "rx_packets")
	err := lab.SendSuperPacket(l)
	time.Sleep(100 * time.Millisecond)
	return lab.LinkStat(l.B, "vB", "rx_packets") - w0, err
}

func probe(l *lab.Lab) error {
	dst := netip.MustParseAddr(l.BAddr)
	fmt.Println("1. veth offload features, before and after an XDP program (XDP_PASS) on vB, and after it is detached")
	if err := freshVeth(l); err != nil {
		return err
	}
	features(l, "fresh:")
	n, err := superPacket(l)
	fmt.Printf("  a 63 420-byte GSO super-packet from vA: vB counted %d packet(s) (err %v)\n", n, err)
	var x *XDP
	if err := inB(l, func() error {
		idx, err := lab.Ifindex("vB")
		if err == nil {
			x, err = AttachXDP(idx, xdpPassAll, dst)
		}
		return err
	}); err != nil {
		return err
	}
	features(l, "XDP on vB:")
	n, err = superPacket(l)
	fmt.Printf("  a 63 420-byte GSO super-packet from vA: vB counted %d packet(s) (err %v)\n", n, err)
	x.Close()
	features(l, "XDP detached:")

	fmt.Println("2. binding an AF_XDP socket to vB queue 0 (XDP redirect program attached)")
	if err := freshVeth(l); err != nil {
		return err
	}
	return inB(l, func() error {
		idx, err := lab.Ifindex("vB")
		if err != nil {
			return err
		}
		x, err := AttachXDP(idx, xdpRedirect, dst)
		if err != nil {
			return err
		}
		defer x.Close()
		for _, c := range []struct {
			name  string
			flags uint16
			queue uint32
		}{
			{"XDP_ZEROCOPY|XDP_USE_NEED_WAKEUP", unix.XDP_ZEROCOPY | unix.XDP_USE_NEED_WAKEUP, 0},
			{"XDP_ZEROCOPY", unix.XDP_ZEROCOPY, 0},
			{"no mode flag (kernel's choice)", unix.XDP_USE_NEED_WAKEUP, 0},
			{"XDP_COPY|XDP_USE_NEED_WAKEUP", unix.XDP_COPY | unix.XDP_USE_NEED_WAKEUP, 0},
			{"XDP_COPY, queue 1 (veth has 1 rx queue)", unix.XDP_COPY, 1},
		} {
			s, err := OpenSocket(SocketOptions{Ifindex: idx, Queue: c.queue, Frames: 64, FillFrames: 64, FillSize: 64, CompSize: 64, RxSize: 64, BindFlags: c.flags})
			if err != nil {
				fmt.Printf("  %-40s %v (errno %d)\n", c.name+":", err, errnoOf(err))
				continue
			}
			var opt [4]byte
			n := uint32(4)
			unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.FD), unix.SOL_XDP, unix.XDP_OPTIONS, uintptr(unsafe.Pointer(&opt[0])), uintptr(unsafe.Pointer(&n)), 0)
			fmt.Printf("  %-40s bound; XDP_OPTIONS zero-copy %v; fill ring need_wakeup %v\n", c.name+":", opt[0]&unix.XDP_OPTIONS_ZEROCOPY != 0, s.FillNeedsWakeup())
			s.Close()
			time.Sleep(300 * time.Millisecond) // the queue is released after an RCU grace period: an immediate bind says EBUSY
		}
		return nil
	})
}

func errnoOf(err error) int {
	for err != nil {
		if e, ok := err.(unix.Errno); ok {
			return int(e)
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return -1
		}
		err = u.Unwrap()
	}
	return -1
}

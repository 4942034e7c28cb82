package main

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	lab "github.com/ipipd/ipipd/bench/cmd/outerlab"
)

// reader is one receive case's set-up (in B, on the reader's thread) and
// loop.
type reader struct {
	loop  func(stop *atomic.Bool) (pkts, sleeps, drops int64)
	close func()
}

// openReader sets up a receive case in B on the calling thread.
//
//	baseline     no reader; tcx ingress drops protocol 4 (sender and veth cost)
//	xdp-drop     no reader; an XDP program drops protocol 4 (the same with veth's XDP path on)
//	raw          protocol-4 raw socket, recvmmsg × 64 (ipipd today)
//	raw-xdppass  the same with an XDP program that passes everything on vB
//	ring         TPACKET_V3 ring (ETH_P_IP) beside a drop-everything raw socket (rxring's ring)
//	ring-steal   TPACKET_V3 ring on ETH_P_ALL + tcx ingress drop of protocol 4 (rxring's best)
//	afxdp        XDP redirect of protocol 4 for B into an XSKMAP; AF_XDP socket, copy mode, poll(2) when the rx ring is empty
//	afxdp-spin   the same, the reader never sleeping (the busy-polling core AF_XDP designs assume)
func openReader(l *lab.Lab, name string) (*reader, error) {
	dst := netip.MustParseAddr(l.BAddr)
	idx, err := lab.Ifindex("vB")
	if err != nil {
		return nil, err
	}
	var closers []func()
	rd := &reader{close: func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}}
	fail := func(err error) (*reader, error) { rd.close(); return nil, err }
	idle := func(stop *atomic.Bool) (int64, int64, int64) {
		for !stop.Load() {
			time.Sleep(10 * time.Millisecond)
		}
		return 0, 0, 0
	}
	tcxDrop := func() error {
		fd, err := lab.AttachProto4Drop(idx)
		if err == nil {
			closers = append(closers, func() { unix.Close(fd) })
		}
		return err
	}
	xdp := func(a xdpAction) (*XDP, error) {
		x, err := AttachXDP(idx, a, dst)
		if err == nil {
			closers = append(closers, x.Close)
		}
		return x, err
	}
	rawLoop := func(fd int) func(*atomic.Bool) (int64, int64, int64) {
		return func(stop *atomic.Bool) (pkts, sleeps, drops int64) {
			m := lab.NewMmsg(64, 65535, false)
			for !stop.Load() {
				n, e := m.Call(unix.SYS_RECVMMSG, fd, len(m.Hdrs))
				if e == 0 {
					pkts += int64(n)
				}
				if e != 0 || n < len(m.Hdrs) {
					sleeps++
				}
			}
			return pkts, sleeps, 0
		}
	}
	ringLoop := func(all bool) error {
		ring, err := lab.OpenRing(lab.RingOptions{Dev: "vB", AllProto: all, Dst: dst, BlockSize: 1 << 20, Blocks: 16, TimeoutMs: 1})
		if err != nil {
			return err
		}
		closers = append(closers, ring.Close)
		rd.loop = func(stop *atomic.Bool) (pkts, sleeps, drops int64) {
			ring.Stats()
			for !stop.Load() {
				pkts += int64(ring.Next(50, func(lab.Packet) {}, &sleeps))
			}
			_, d := ring.Stats()
			return pkts, sleeps, int64(d)
		}
		return nil
	}
	rawSocket := func() (int, error) {
		fd, err := lab.RawReceiver()
		if err == nil {
			lab.SetTimeout(fd, 50)
			closers = append(closers, func() { unix.Close(fd) })
		}
		return fd, err
	}
	switch name {
	case "baseline":
		rd.loop = idle
		err = tcxDrop()
	case "xdp-drop":
		rd.loop = idle
		_, err = xdp(xdpDrop)
	case "raw", "raw-xdppass":
		if name == "raw-xdppass" {
			if _, err := xdp(xdpPassAll); err != nil {
				return fail(err)
			}
		}
		var fd int
		if fd, err = rawSocket(); err == nil {
			rd.loop = rawLoop(fd)
		}
	case "ring":
		var fd int
		if fd, err = rawSocket(); err == nil {
			if err = lab.DropAll(fd); err == nil {
				err = ringLoop(false)
			}
		}
	case "ring-steal":
		if err = tcxDrop(); err == nil {
			err = ringLoop(true)
		}
	case "afxdp", "afxdp-spin":
		spin := name == "afxdp-spin"
		var x *XDP
		if x, err = xdp(xdpRedirect); err != nil {
			return fail(err)
		}
		s, err := OpenSocket(SocketOptions{Ifindex: idx, Queue: 0, Frames: 4096, FillFrames: 4096, FillSize: 4096, CompSize: 64, RxSize: 2048,
			BindFlags: unix.XDP_COPY | unix.XDP_USE_NEED_WAKEUP})
		if err != nil {
			return fail(fmt.Errorf("AF_XDP socket: %w", err))
		}
		closers = append(closers, s.Close)
		if err := x.Map.Put(uint32(0), uint32(s.FD)); err != nil {
			return fail(fmt.Errorf("XSKMAP update: %w", err))
		}
		rd.loop = func(stop *atomic.Bool) (pkts, sleeps, drops int64) {
			st0 := s.Stats()
			pfd := []unix.PollFd{{Fd: int32(s.FD), Events: unix.POLLIN}}
			checked := false
			for !stop.Load() {
				n := s.Receive(func(b []byte) {
					if !checked && (len(b) < 34 || b[14+9] != 4) {
						fmt.Fprintf(os.Stderr, "afxdp: unexpected frame of %d bytes\n", len(b))
					}
					checked = true
				})
				if n == 0 && spin {
					continue
				}
				if n == 0 {
					unix.Poll(pfd, 50)
					sleeps++
					continue
				}
				pkts += int64(n)
			}
			st := s.Stats()
			drops = int64(st.Rx_dropped - st0.Rx_dropped + st.Rx_ring_full - st0.Rx_ring_full)
			return pkts, sleeps, drops
		}
	default:
		return fail(fmt.Errorf("unknown case %q", name))
	}
	if err != nil {
		return fail(err)
	}
	return rd, nil
}

func runRx(l *lab.Lab, name string, dur time.Duration) (result, error) {
	var r result
	var stop atomic.Bool
	ready := make(chan error, 1)
	begin := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := lab.In(l.B, func() error {
			rd, err := openReader(l, name)
			ready <- err
			if err != nil {
				return nil
			}
			defer rd.close()
			<-begin
			c0 := lab.ThreadCPU()
			r.pkts, r.calls, r.drops = rd.loop(&stop)
			r.worker = lab.ThreadCPU() - c0
			return nil
		})
		if err != nil {
			select {
			case ready <- err:
			default:
			}
		}
	}()
	if err := <-ready; err != nil {
		wg.Wait()
		return r, err
	}
	waitFlood, err := lab.StartFlood(l, &stop)
	if err != nil {
		stop.Store(true)
		close(begin)
		wg.Wait()
		return r, err
	}
	time.Sleep(200 * time.Millisecond)
	s0 := take(l)
	close(begin)
	time.Sleep(dur)
	stop.Store(true)
	wg.Wait()
	waitFlood()
	r.between(l, s0, take(l))
	if strings.HasPrefix(name, "baseline") || name == "xdp-drop" {
		r.pkts = r.wire // no reader: the packets the veth carried
	}
	return r, nil
}

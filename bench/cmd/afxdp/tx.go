package main

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	lab "github.com/ipipd/ipipd/bench/cmd/outerlab"
)

// runTx sends 1400-byte IPIP packets from A for dur, B's vB dropping them
// at tcx ingress (the same cheap receive in every case), and counts what
// reached vB.
//
//	raw-send     blocking header-included raw socket, sendmmsg × 64 (ipipd's default sender)
//	packet-send  AF_PACKET socket on vA, sendmmsg × 64 (--transmit packet)
//	afxdp-send   AF_XDP socket on vA, copy mode: frames on the tx ring, one sendto per batch
func runTx(l *lab.Lab, name string, dur time.Duration, budget int) (result, error) {
	var r result
	var drop int
	if err := inB(l, func() error {
		idx, err := lab.Ifindex("vB")
		if err == nil {
			drop, err = lab.AttachProto4Drop(idx)
		}
		return err
	}); err != nil {
		return r, err
	}
	defer unix.Close(drop)
	bMAC, _ := lab.MAC(l.B, "vB")
	aMAC, _ := lab.MAC(l.A, "vA")
	src, dst := netip.MustParseAddr(l.AAddr), netip.MustParseAddr(l.BAddr)
	var stop atomic.Bool
	ready := make(chan error, 1)
	begin := make(chan struct{})
	done := lab.Go(l.A, func() error {
		var send func() (calls int64)
		switch name {
		case "raw-send", "packet-send":
			var fd, off int
			var err error
			if name == "raw-send" {
				fd, err = lab.RawSender()
			} else {
				fd, err = lab.PacketSocket("vA", false)
				off = 14
			}
			if err != nil {
				ready <- err
				return nil
			}
			defer unix.Close(fd)
			m := lab.NewMmsg(64, 1414, name == "raw-send")
			for i := range m.Bufs {
				if off > 0 {
					lab.EtherHeader(m.Bufs[i], bMAC, aMAC)
				}
				n := lab.IPIPTCP(m.Bufs[i][off:], src, dst, uint16(i+1), uint32(i), 1340, false)
				m.Bufs[i][off+40+1] = byte(i % 16)
				m.SetLen(i, off+n)
				if m.Addrs != nil {
					m.Addrs[i].Addr = dst.As4()
				}
			}
			send = func() int64 {
				m.Call(unix.SYS_SENDMMSG, fd, len(m.Hdrs))
				return 1
			}
		case "afxdp-send":
			idx, err := lab.Ifindex("vA")
			if err != nil {
				ready <- err
				return nil
			}
			s, err := OpenSocket(SocketOptions{Ifindex: idx, Frames: 4096, FillSize: 64, CompSize: 2048, TxSize: 2048,
				BindFlags: unix.XDP_COPY | unix.XDP_USE_NEED_WAKEUP, TxBudget: budget})
			if err != nil {
				ready <- fmt.Errorf("AF_XDP socket: %w", err)
				return nil
			}
			defer s.Close()
			for i, a := range s.free {
				f := s.Frame(a)
				lab.EtherHeader(f, bMAC, aMAC)
				lab.IPIPTCP(f[14:], src, dst, uint16(i+1), uint32(i), 1340, false)
				f[14+40+1] = byte(i % 16)
			}
			send = func() int64 {
				s.Complete()
				s.Transmit(2048, 1414)
				if s.TxNeedsWakeup() {
					s.Kick()
					return 1
				}
				return 0
			}
		default:
			ready <- fmt.Errorf("unknown case %q", name)
			return nil
		}
		ready <- nil
		<-begin
		c0 := lab.ThreadCPU()
		for !stop.Load() {
			r.calls += send()
		}
		r.worker = lab.ThreadCPU() - c0
		return nil
	})
	if err := <-ready; err != nil {
		<-done
		return r, err
	}
	time.Sleep(200 * time.Millisecond)
	s0 := take(l)
	close(begin)
	time.Sleep(dur)
	stop.Store(true)
	if err := <-done; err != nil {
		return r, err
	}
	r.between(l, s0, take(l))
	r.pkts = r.wire
	return r, nil
}

package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	lab "github.com/ipipd/ipipd/bench/cmd/outerlab"
	"github.com/ipipd/ipipd/internal/mmsg"
)

// result is one case's run.
type result struct {
	name                string
	gbit                float64 // inner TCP payload delivered to B's raw socket
	kpps                float64 // packets B's raw socket read
	wire                uint64  // packets vB received
	senderCPU, recvCPU  time.Duration
	procCPU, machine    time.Duration
	payload             int64
	calls, eagain, errs int64
	vcsw, procVcsw      int64
	load                string
}

func (r result) cpuPerGB() float64 { return r.procCPU.Seconds() / (float64(r.payload) / 1e9) }

// sender is one way of putting outer packets on vA.
type sender struct {
	open func() (send func() (pkts int, err error), closeFn func(), err error)
}

func measure(l *lab.Lab, list string, dur time.Duration, reps int) {
	bMAC, _ := lab.MAC(l.B, "vB")
	aMAC, _ := lab.MAC(l.A, "vA")
	src, dst := netip.MustParseAddr(l.AAddr), netip.MustParseAddr(l.BAddr)
	var eagain atomic.Int64

	// 64 outer packets of 1500 bytes, for the per-packet senders.
	perPacket := func(m *lab.Mmsg, off int) {
		for i := range m.Bufs {
			if off > 0 {
				lab.EtherHeader(m.Bufs[i], bMAC, aMAC)
			}
			n := lab.IPIPTCP(m.Bufs[i][off:], src, dst, uint16(i+1), uint32(i*mss), mss, false)
			m.SetLen(i, off+n)
			if m.Addrs != nil {
				m.Addrs[i].Addr = dst.As4()
			}
		}
	}
	blocking := func(m *lab.Mmsg, fd int) func() (int, error) {
		return func() (int, error) {
			n, e := m.Call(unix.SYS_SENDMMSG, fd, len(m.Hdrs))
			if e != 0 {
				return 0, e
			}
			return n, nil
		}
	}
	senders := map[string]sender{
		"raw": {open: func() (func() (int, error), func(), error) {
			// As internal/rawsock: a non-blocking socket in Go's poller.
			lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
				return c.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20) })
			}}
			pc, err := lc.ListenPacket(context.Background(), "ip4:255", "0.0.0.0")
			if err != nil {
				return nil, nil, err
			}
			rc, _ := pc.(*net.IPConn).SyscallConn()
			m := lab.NewMmsg(64, 1500, true)
			perPacket(m, 0)
			var n int
			var errno syscall.Errno
			fn := func(fd uintptr) bool {
				var ready bool
				n, errno, ready = mmsg.Send(fd, m.Hdrs)
				if !ready {
					eagain.Add(1)
				}
				return ready
			}
			return func() (int, error) {
				if err := rc.Write(fn); err != nil {
					return 0, err
				}
				if errno != 0 {
					return 0, errno
				}
				return n, nil
			}, func() { pc.Close() }, nil
		}},
		"raw-blocking": {open: func() (func() (int, error), func(), error) {
			fd, err := lab.RawSender()
			if err != nil {
				return nil, nil, err
			}
			m := lab.NewMmsg(64, 1500, true)
			perPacket(m, 0)
			return blocking(m, fd), func() { unix.Close(fd) }, nil
		}},
		"packet": {open: func() (func() (int, error), func(), error) {
			fd, err := lab.PacketSocket("vA", false)
			if err != nil {
				return nil, nil, err
			}
			m := lab.NewMmsg(64, 1514, false)
			perPacket(m, 14)
			return blocking(m, fd), func() { unix.Close(fd) }, nil
		}},
		"gso": {open: func() (func() (int, error), func(), error) { return gsoSender(bMAC, aMAC, src, dst) }},
		"gso-sw": {open: func() (func() (int, error), func(), error) {
			if err := lab.Cmd("ip", "netns", "exec", l.A, "ethtool", "-K", "vA", "tx-ipxip4-segmentation", "off"); err != nil {
				return nil, nil, err
			}
			send, closeFn, err := gsoSender(bMAC, aMAC, src, dst)
			return send, func() {
				if closeFn != nil {
					closeFn()
				}
				lab.Cmd("ip", "netns", "exec", l.A, "ethtool", "-K", "vA", "tx-ipxip4-segmentation", "on")
			}, err
		}},
	}
	names := strings.Split(list, ",")
	for _, n := range names {
		if _, ok := senders[n]; !ok {
			lab.Fatal("unknown case %q", n)
		}
	}
	all := map[string][]result{}
	for rep := 0; rep < reps; rep++ {
		for i := range names {
			name := names[(i+rep)%len(names)] // turn the order each repetition
			eagain.Store(0)
			r, err := runCase(l, name, senders[name], dur, &eagain)
			if err != nil {
				fmt.Printf("%s: %v\n", name, err)
				continue
			}
			fmt.Printf("rep %d %-13s %6.2f Gbit/s payload, %7.1f kpps read at B, %6d on vB, CPU sender %5.2fs receiver %5.2fs process %5.2fs (%5.2f s/GB), machine %5.2fs, other threads %5.2fs, calls %d eagain %d errs %d vcsw sender %d process %d, load %s\n",
				rep, name, r.gbit, r.kpps, r.wire, r.senderCPU.Seconds(), r.recvCPU.Seconds(), r.procCPU.Seconds(), r.cpuPerGB(), r.machine.Seconds(), (r.procCPU - r.senderCPU - r.recvCPU).Seconds(), r.calls, r.eagain, r.errs, r.vcsw, r.procVcsw, r.load)
			all[name] = append(all[name], r)
		}
	}
	fmt.Printf("\n| case | payload Gbit/s | kpps read at B | packets on vB per s | process CPU-s/GB | CPU-s of other threads per s | process wakeups/s | loads |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, n := range names {
		rs := all[n]
		if len(rs) == 0 {
			continue
		}
		med := func(f func(result) float64) float64 { return lab.Median(rs, f) }
		var loads []string
		for _, r := range rs {
			loads = append(loads, r.load)
		}
		fmt.Printf("| %s | %.2f | %.1f | %.0f | %.2f | %.2f | %.0f | %s |\n", n, med(func(r result) float64 { return r.gbit }),
			med(func(r result) float64 { return r.kpps }), med(func(r result) float64 { return float64(r.wire) / dur.Seconds() }),
			med(result.cpuPerGB), med(func(r result) float64 { return (r.procCPU - r.senderCPU - r.recvCPU).Seconds() / dur.Seconds() }),
			med(func(r result) float64 { return float64(r.procVcsw) / dur.Seconds() }), strings.Join(loads, " "))
	}
}

// gsoSender sends super-packets (44 segments of 1440 bytes) on a packet
// socket with a virtio-net header, 4 per sendmmsg, through the tcx IPIP
// mark on vA.
func gsoSender(bMAC, aMAC []byte, src, dst netip.Addr) (func() (int, error), func(), error) {
	idx, err := lab.Ifindex("vA")
	if err != nil {
		return nil, nil, err
	}
	link, err := lab.AttachIPIPMark(idx)
	if err != nil {
		return nil, nil, err
	}
	fd, err := lab.PacketSocket("vA", true)
	if err != nil {
		unix.Close(link)
		return nil, nil, err
	}
	m := lab.NewMmsg(4, 70000, false)
	for i := range m.Bufs {
		superVnet(14).Put(m.Bufs[i])
		lab.EtherHeader(m.Bufs[i][lab.VnetHdrLen:], bMAC, aMAC)
		off := lab.VnetHdrLen + 14
		n := lab.IPIPTCP(m.Bufs[i][off:], src, dst, uint16(i*segments+1), uint32(i*segments*mss), segments*mss, true)
		m.SetLen(i, off+n)
	}
	send := func() (int, error) {
		n, e := m.Call(unix.SYS_SENDMMSG, fd, len(m.Hdrs))
		if e != 0 {
			return 0, e
		}
		return n, nil
	}
	return send, func() { unix.Close(fd); unix.Close(link) }, nil
}

func runCase(l *lab.Lab, name string, s sender, dur time.Duration, eagain *atomic.Int64) (result, error) {
	r := result{name: name}
	var stop atomic.Bool
	type recvOut struct {
		pkts, payload int64
		cpu           time.Duration
		err           error
	}
	ready := make(chan error, 1)
	recvDone := make(chan recvOut, 1)
	go func() {
		var out recvOut
		out.err = lab.In(l.B, func() error {
			fd, err := lab.RawReceiver()
			if err != nil {
				ready <- err
				return err
			}
			defer unix.Close(fd)
			lab.SetTimeout(fd, 50)
			m := lab.NewMmsg(64, 65535, false)
			ready <- nil
			c0 := lab.ThreadCPU()
			for !stop.Load() {
				n, e := m.Call(unix.SYS_RECVMMSG, fd, len(m.Hdrs))
				if e != 0 {
					continue
				}
				for i := 0; i < n; i++ {
					out.payload += int64(m.Hdrs[i].Len) - 60
				}
				out.pkts += int64(n)
			}
			out.cpu = lab.ThreadCPU() - c0
			return nil
		})
		recvDone <- out
	}()
	if err := <-ready; err != nil {
		return r, err
	}
	type sendOut struct {
		calls, errs, vcsw int64
		cpu               time.Duration
		err               error
	}
	sendDone := make(chan sendOut, 1)
	start := make(chan struct{})
	go func() {
		var out sendOut
		out.err = lab.In(l.A, func() error {
			send, closeFn, err := s.open()
			if err != nil {
				close(start)
				return err
			}
			defer closeFn()
			<-start
			v0, _ := lab.ThreadSwitches()
			c0 := lab.ThreadCPU()
			for !stop.Load() {
				if _, err := send(); err != nil {
					out.errs++
				}
				out.calls++
			}
			out.cpu = lab.ThreadCPU() - c0
			v1, _ := lab.ThreadSwitches()
			out.vcsw = v1 - v0
			return nil
		})
		sendDone <- out
	}()
	time.Sleep(200 * time.Millisecond) // sockets open, program attached
	wire0 := lab.LinkStat(l.B, "vB", "rx_packets")
	p0, m0, s0 := lab.ProcessCPU(), lab.MachineBusy(), lab.ProcessSwitches()
	select {
	case <-start:
	default:
		close(start)
	}
	time.Sleep(dur)
	stop.Store(true)
	so := <-sendDone
	ro := <-recvDone
	r.procCPU, r.machine = lab.ProcessCPU()-p0, lab.MachineBusy()-m0
	r.procVcsw = lab.ProcessSwitches() - s0
	r.wire = lab.LinkStat(l.B, "vB", "rx_packets") - wire0
	if so.err != nil {
		return r, so.err
	}
	r.load = lab.Load()
	r.payload = ro.payload
	r.gbit = float64(ro.payload) * 8 / dur.Seconds() / 1e9
	r.kpps = float64(ro.pkts) / dur.Seconds() / 1e3
	r.senderCPU, r.recvCPU = so.cpu, ro.cpu
	r.calls, r.errs, r.vcsw, r.eagain = so.calls, so.errs, so.vcsw, eagain.Load()
	return r, nil
}

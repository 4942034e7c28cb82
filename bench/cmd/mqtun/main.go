// Command mqtun asks whether a multi-queue TUN (IFF_MULTI_QUEUE, one queue
// per worker) spreads inner flows over its queues, and what a second
// worker buys on this machine: in namespace A, N UDP flows of 1400-byte
// datagrams are routed into the TUN; each worker reads its queue, writes an
// outer IPv4 header in front of each packet (in place, as ipipd does) and
// sends them in batches with sendmmsg on a raw socket to B, where tc
// ingress drops them. Root only; see README.md.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	lab "github.com/ipipd/ipipd/bench/cmd/outerlab"
)

type result struct {
	perQueue         []int64
	sent, delivered  int64
	procCPU, machine time.Duration
	tunDrops         uint64
	load             string
}

func main() {
	dur := flag.Duration("duration", 2*time.Second, "length of one case")
	reps := flag.Int("reps", 3, "repetitions of every case")
	cases := flag.String("cases", "1x1,1x2,4x1,4x2,1x4,4x4", "FLOWSxWORKERS cases, comma-separated (one TUN queue per worker)")
	subnet := flag.Int("subnet", 235, "the third octet of 10.245.x.0/24")
	flag.Parse()
	l, err := lab.New("mqtun", *subnet, 2*time.Minute+time.Duration(*reps)*8*(*dur+time.Second))
	if err != nil {
		lab.Fatal("%v", err)
	}
	defer l.Close()
	if err := lab.In(l.B, func() error {
		idx, err := lab.Ifindex("vB")
		if err != nil {
			return err
		}
		_, err = lab.AttachProto4Drop(idx) // kept for the program's life
		return err
	}); err != nil {
		lab.Fatal("%v", err)
	}
	names := strings.Split(*cases, ",")
	all := map[string][]result{}
	for rep := 0; rep < *reps; rep++ {
		for i := range names {
			name := names[(i+rep)%len(names)]
			var flows, workers int
			fmt.Sscanf(name, "%dx%d", &flows, &workers)
			r, err := run(l, flows, workers, *dur)
			if err != nil {
				fmt.Printf("%s: %v\n", name, err)
				continue
			}
			fmt.Printf("rep %d flows×workers %-4s per queue %v, generated %d, delivered %.1f kpps, TUN drops %d, process CPU %.2fs (%.2f µs/pkt), machine %.2fs, load %s\n",
				rep, name, r.perQueue, r.sent, float64(r.delivered)/dur.Seconds()/1e3, r.tunDrops, r.procCPU.Seconds(),
				r.procCPU.Seconds()*1e6/float64(max(r.delivered, 1)), r.machine.Seconds(), r.load)
			all[name] = append(all[name], r)
		}
	}
	fmt.Printf("\n| flows × workers | delivered kpps | process CPU µs/pkt | busiest queue's share | loads |\n| --- | ---: | ---: | ---: | --- |\n")
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
		fmt.Printf("| %s | %.1f | %.2f | %.2f | %s |\n", n,
			med(func(r result) float64 { return float64(r.delivered) / dur.Seconds() / 1e3 }),
			med(func(r result) float64 { return r.procCPU.Seconds() * 1e6 / float64(max(r.delivered, 1)) }),
			med(func(r result) float64 {
				var sum, top int64
				for _, q := range r.perQueue {
					sum += q
					top = max(top, q)
				}
				return float64(top) / float64(max(sum, 1))
			}), strings.Join(loads, " "))
	}
}

const tunName = "mq0"

// openQueues creates the TUN's queues in A (the calling thread's
// namespace), non-blocking.
func openQueues(n int) ([]int, error) {
	var fds []int
	for i := 0; i < n; i++ {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return fds, err
		}
		ifr, _ := unix.NewIfreq(tunName)
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_MULTI_QUEUE)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return fds, fmt.Errorf("TUNSETIFF queue %d: %w", i, err)
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

func run(l *lab.Lab, flows, workers int, dur time.Duration) (result, error) {
	r := result{perQueue: make([]int64, workers)}
	var fds []int
	var rawFDs []int
	var socks []*net.UDPConn
	setup := make(chan error, 1)
	go func() {
		setup <- lab.In(l.A, func() error {
			var err error
			if fds, err = openQueues(workers); err != nil {
				return err
			}
			for _, c := range [][]string{
				{"ip", "-n", l.A, "link", "set", tunName, "up", "mtu", "1480"},
				{"ip", "-n", l.A, "addr", "add", "192.168.236.1/24", "dev", tunName},
			} {
				if err := lab.Cmd(c...); err != nil {
					return err
				}
			}
			for i := 0; i < workers; i++ {
				fd, err := lab.RawSender()
				if err != nil {
					return err
				}
				rawFDs = append(rawFDs, fd)
			}
			for f := 0; f < flows; f++ {
				c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(192, 168, 236, 1), Port: 40000 + f},
					&net.UDPAddr{IP: net.IPv4(192, 168, 236, 2), Port: 5201})
				if err != nil {
					return err
				}
				socks = append(socks, c)
			}
			return nil
		})
	}()
	cleanup := func() {
		for _, c := range socks {
			c.Close()
		}
		for _, fd := range rawFDs {
			unix.Close(fd)
		}
		for _, fd := range fds {
			unix.Close(fd) // the last queue's close removes the device
		}
	}
	defer cleanup()
	if err := <-setup; err != nil {
		return r, err
	}
	var stop atomic.Bool
	var sent atomic.Int64
	var wg sync.WaitGroup
	dst := netip.MustParseAddr(l.BAddr)
	src := netip.MustParseAddr(l.AAddr)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := lab.NewMmsg(64, 20+1500, true)
			pfd := []unix.PollFd{{Fd: int32(fds[w]), Events: unix.POLLIN}}
			var id uint16
			for !stop.Load() {
				n := 0
				for n < len(m.Bufs) {
					k, err := unix.Read(fds[w], m.Bufs[n][20:])
					if err != nil {
						break
					}
					id++
					lab.IPv4(m.Bufs[n], 20+k, 4, id, src, dst)
					m.SetLen(n, 20+k)
					m.Addrs[n].Addr = dst.As4()
					n++
				}
				if n == 0 {
					unix.Poll(pfd, 20)
					continue
				}
				r.perQueue[w] += int64(n)
				m.Call(unix.SYS_SENDMMSG, rawFDs[w], n)
			}
		}()
	}
	payload := make([]byte, 1400-28)
	for _, c := range socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if _, err := c.Write(payload); err == nil {
					sent.Add(1)
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	for i := range r.perQueue {
		atomic.StoreInt64(&r.perQueue[i], 0)
	}
	sent.Store(0)
	d0 := lab.LinkStat(l.B, "vB", "rx_packets")
	t0 := lab.LinkStat(l.A, tunName, "tx_dropped")
	p0, m0 := lab.ProcessCPU(), lab.MachineBusy()
	time.Sleep(dur)
	r.procCPU, r.machine = lab.ProcessCPU()-p0, lab.MachineBusy()-m0
	r.delivered = int64(lab.LinkStat(l.B, "vB", "rx_packets") - d0)
	r.tunDrops = lab.LinkStat(l.A, tunName, "tx_dropped") - t0
	r.sent = sent.Load()
	stop.Store(true)
	wg.Wait()
	r.load = lab.Load()
	return r, nil
}

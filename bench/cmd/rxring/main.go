// Command rxring compares ways of receiving a flood of 1400-byte IPIP
// packets in one namespace, sent from another over a veth: the raw
// protocol-4 socket with recvmmsg (what ipipd does) against an AF_PACKET
// TPACKET_V3 ring (one wakeup per block), with and without a raw socket
// that drops everything, with tc ingress keeping the packets from IP input,
// and with PACKET_FANOUT over two workers. -mode big checks what a 63 KiB
// merged IPIP packet looks like in the ring. Root only; see README.md.
package main

import (
	"flag"
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

type result struct {
	kpps              float64
	recvCPU, procCPU  time.Duration
	machine           time.Duration
	pkts, wakeups     int64
	drops, icmp, wire int64
	load              string
}

func (r result) usPerPkt() float64 { return r.procCPU.Seconds() * 1e6 / float64(max(r.pkts, 1)) }

func main() {
	mode := flag.String("mode", "measure", "measure: the receive cases, interleaved; big: a 63 KiB IPIP packet into the ring")
	dur := flag.Duration("duration", 2*time.Second, "length of one case")
	reps := flag.Int("reps", 3, "repetitions of every case")
	cases := flag.String("cases", "baseline,raw,ring,ring-noraw,ring-steal,raw-2,ring-fanout-2", "cases, comma-separated")
	subnet := flag.Int("subnet", 233, "the third octet of 10.245.x.0/24")
	flag.Parse()
	l, err := lab.New("rxring", *subnet, 2*time.Minute+time.Duration(*reps)*8*(*dur+time.Second))
	if err != nil {
		lab.Fatal("%v", err)
	}
	defer l.Close()
	if *mode == "big" {
		big(l)
		return
	}
	names := strings.Split(*cases, ",")
	all := map[string][]result{}
	for rep := 0; rep < *reps; rep++ {
		for i := range names {
			name := names[(i+rep)%len(names)]
			r, err := run(l, name, *dur)
			if err != nil {
				fmt.Printf("%s: %v\n", name, err)
				continue
			}
			fmt.Printf("rep %d %-14s %7.1f kpps read, on vB %6d, receiver CPU %5.2fs, process %5.2fs (%.2f µs/pkt), machine %5.2fs, wakeups %d, drops %d, ICMP unreachables sent %d, load %s\n",
				rep, name, r.kpps, r.wire, r.recvCPU.Seconds(), r.procCPU.Seconds(), r.usPerPkt(), r.machine.Seconds(), r.wakeups, r.drops, r.icmp, r.load)
			all[name] = append(all[name], r)
		}
	}
	fmt.Printf("\n| case | kpps read | receiver threads CPU µs/pkt | process CPU µs/pkt | process CPU µs per packet on vB | wakeups per 1000 pkts | drops/s | ICMP sent/s | loads |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
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
		fmt.Printf("| %s | %.1f | %.2f | %.2f | %.2f | %.1f | %.0f | %.0f | %s |\n", n,
			med(func(r result) float64 { return r.kpps }),
			med(func(r result) float64 { return r.recvCPU.Seconds() * 1e6 / float64(max(r.pkts, 1)) }),
			med(result.usPerPkt),
			med(func(r result) float64 { return r.procCPU.Seconds() * 1e6 / float64(max(r.wire, 1)) }),
			med(func(r result) float64 { return float64(r.wakeups) * 1000 / float64(max(r.pkts, 1)) }),
			med(func(r result) float64 { return float64(r.drops) / dur.Seconds() }),
			med(func(r result) float64 { return float64(r.icmp) / dur.Seconds() }),
			strings.Join(loads, " "))
	}
}

// icmpOut is B's Icmp OutDestUnreachs.
func icmpOut(ns string) int64 {
	out, _ := lab.Output("ip", "netns", "exec", ns, "cat", "/proc/net/snmp")
	var names, vals []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "Icmp: ") {
			if names == nil {
				names = strings.Fields(line)
			} else {
				vals = strings.Fields(line)
			}
		}
	}
	for i, n := range names {
		if n == "OutDestUnreachs" && i < len(vals) {
			var v int64
			fmt.Sscan(vals[i], &v)
			return v
		}
	}
	return 0
}

// rawDrops sums the drops column of B's /proc/net/raw.
func rawDrops(ns string) int64 {
	out, _ := lab.Output("ip", "netns", "exec", ns, "cat", "/proc/net/raw")
	var sum int64
	for _, line := range strings.Split(out, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 0 {
			var v int64
			fmt.Sscan(f[len(f)-1], &v)
			sum += v
		}
	}
	return sum
}

func run(l *lab.Lab, name string, dur time.Duration) (result, error) {
	var r result
	workers := 1
	switch {
	case strings.HasSuffix(name, "-2"):
		workers = 2
	case name == "baseline": // no reader: tc ingress drops every packet
		workers = 0
	}
	var stop atomic.Bool
	var pkts, wakeups, ringDrops atomic.Int64
	var recvCPU atomic.Int64
	var wg sync.WaitGroup
	ready := make(chan error, workers+1)
	begin := make(chan struct{})
	var steal int = -1
	var keep []int // raw sockets kept open for the case
	defer func() {
		for _, fd := range keep {
			unix.Close(fd)
		}
		if steal >= 0 {
			unix.Close(steal)
		}
	}()
	// Shared set-up in B.
	if err := func() error {
		done := make(chan error, 1)
		go func() {
			done <- lab.In(l.B, func() error {
				switch {
				case name == "ring" || name == "ring-fanout-2":
					fd, err := lab.RawReceiver()
					if err != nil {
						return err
					}
					keep = append(keep, fd)
					return lab.DropAll(fd)
				case name == "ring-steal" || name == "baseline":
					idx, err := lab.Ifindex("vB")
					if err != nil {
						return err
					}
					steal, err = lab.AttachProto4Drop(idx)
					return err
				case strings.HasPrefix(name, "raw"):
					fd, err := lab.RawReceiver()
					if err != nil {
						return err
					}
					lab.SetTimeout(fd, 50)
					keep = append(keep, fd)
				}
				return nil
			})
		}()
		return <-done
	}(); err != nil {
		return r, err
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := lab.In(l.B, func() error {
				if strings.HasPrefix(name, "raw") {
					fd := keep[0]
					m := lab.NewMmsg(64, 65535, false)
					ready <- nil
					<-begin
					c0 := lab.ThreadCPU()
					for !stop.Load() {
						n, e := m.Call(unix.SYS_RECVMMSG, fd, len(m.Hdrs))
						if e == 0 {
							pkts.Add(int64(n))
						}
						if e != 0 || n < len(m.Hdrs) {
							wakeups.Add(1) // the next call will (or this one did) sleep
						}
					}
					recvCPU.Add(int64(lab.ThreadCPU() - c0))
					return nil
				}
				ring, err := lab.OpenRing(lab.RingOptions{Dev: "vB", AllProto: name == "ring-steal",
					Dst: netip.MustParseAddr(l.BAddr), BlockSize: 1 << 20, Blocks: 16, TimeoutMs: 1,
					Fanout: map[bool]int{true: 77}[workers > 1]})
				if err != nil {
					ready <- err
					return err
				}
				defer ring.Close()
				ready <- nil
				<-begin
				ring.Stats()
				var w int64
				var n int64
				c0 := lab.ThreadCPU()
				for !stop.Load() {
					n += int64(ring.Next(50, func(lab.Packet) {}, &w))
				}
				recvCPU.Add(int64(lab.ThreadCPU() - c0))
				_, d := ring.Stats()
				ringDrops.Add(int64(d))
				pkts.Add(n)
				wakeups.Add(w)
				return nil
			})
			if err != nil {
				fmt.Fprintln(os.Stderr, name, err)
			}
		}()
	}
	for w := 0; w < workers; w++ {
		if err := <-ready; err != nil {
			stop.Store(true)
			close(begin)
			wg.Wait()
			return r, err
		}
	}
	waitFlood, err := lab.StartFlood(l, &stop)
	if err != nil {
		stop.Store(true)
		close(begin)
		wg.Wait()
		return r, err
	}
	time.Sleep(200 * time.Millisecond)
	icmp0, raw0, wire0 := icmpOut(l.B), rawDrops(l.B), lab.LinkStat(l.B, "vB", "rx_packets")
	p0, m0 := lab.ProcessCPU(), lab.MachineBusy()
	close(begin)
	time.Sleep(dur)
	stop.Store(true)
	wg.Wait()
	r.procCPU, r.machine = lab.ProcessCPU()-p0, lab.MachineBusy()-m0
	waitFlood()
	r.wire = int64(lab.LinkStat(l.B, "vB", "rx_packets") - wire0)
	r.icmp = icmpOut(l.B) - icmp0
	r.drops = rawDrops(l.B) - raw0 + ringDrops.Load()
	r.pkts, r.wakeups = pkts.Load(), wakeups.Load()
	r.recvCPU = time.Duration(recvCPU.Load())
	r.kpps = float64(r.pkts) / dur.Seconds() / 1e3
	r.load = lab.Load()
	return r, nil
}

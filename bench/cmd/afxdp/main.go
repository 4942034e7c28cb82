// Command afxdp evaluates AF_XDP as ipipd's outer receive (and transmit)
// backend on a veth, where it runs in copy mode: an XDP program on B's veth
// redirects IPv4 protocol-4 frames for B's address into an XSKMAP and
// passes the rest, and a socket written here with x/sys/unix (UMEM, fill,
// completion, rx and tx rings, XDP_USE_NEED_WAKEUP) reads them. -mode rx
// measures it against the raw socket with recvmmsg and the TPACKET_V3 ring
// (bench/cmd/rxring's cases, through outerlab), every case on a fresh veth
// pair, since attaching XDP changes veth's behaviour; -mode tx the tx
// ring against sendmmsg; -mode probe what attaching XDP does to veth and
// what XDP_ZEROCOPY says. Root only; see README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	lab "github.com/ipipd/ipipd/bench/cmd/outerlab"
	ilab "github.com/ipipd/ipipd/internal/lab"
)

func main() {
	mode := flag.String("mode", "rx", "probe: veth features and zero-copy; rx: the receive cases, interleaved; tx: the transmit cases, interleaved")
	dur := flag.Duration("duration", 2*time.Second, "length of one case")
	reps := flag.Int("reps", 3, "repetitions of every case")
	cases := flag.String("cases", "", "cases, comma-separated (default: all of the mode's)")
	budget := flag.Int("tx-budget", 0, "tx: XDP_MAX_TX_SKB_BUDGET for the AF_XDP socket (0: the kernel's default, 32)")
	subnet := flag.Int("subnet", 236, "the third octet of 10.245.x.0/24")
	flag.Parse()
	l, err := newLab("afxdp", *subnet, 2*time.Minute+time.Duration(*reps)*10*(*dur+3*time.Second))
	if err != nil {
		lab.Fatal("%v", err)
	}
	defer l.Close()
	findSoftirqd()
	switch *mode {
	case "probe":
		err = probe(l)
	case "rx":
		if *cases == "" {
			*cases = "baseline,xdp-drop,raw,raw-xdppass,ring,ring-steal,afxdp"
		}
		err = measure(l, strings.Split(*cases, ","), *dur, *reps, runRx)
	case "tx":
		if *cases == "" {
			*cases = "raw-send,packet-send,afxdp-send"
		}
		err = measure(l, strings.Split(*cases, ","), *dur, *reps, func(l *lab.Lab, name string, dur time.Duration) (result, error) {
			return runTx(l, name, dur, *budget)
		})
	default:
		err = fmt.Errorf("unknown -mode %q", *mode)
	}
	if err != nil {
		l.Close()
		lab.Fatal("%v", err)
	}
}

// freshVeth deletes the veth pair (and with it any XDP or tcx program on
// it) and makes a new one: attaching XDP to a veth turns on its NAPI path
// and changes its GRO and GSO features, so no case may inherit another's.
func freshVeth(l *lab.Lab) error {
	ctx := context.Background()
	a, b := ilab.Existing(l.A, "A"), ilab.Existing(l.B, "B")
	a.IP(ctx, "link", "del", "vA") // absent the first time
	if err := ilab.AddVeth(ctx, a, "vA", netip.MustParsePrefix(l.AAddr+"/24"), b, "vB", netip.MustParsePrefix(l.BAddr+"/24")); err != nil {
		return err
	}
	// Resolve each side's MAC once so nothing waits for ARP later.
	return lab.Cmd(append([]string{"ip"}, a.Exec("ping", "-c1", "-W1", l.BAddr)...)...)
}

// newLab is outerlab.New: two namespaces joined by a veth pair, removed on
// return, on error, on SIGINT, SIGTERM, SIGHUP and SIGPIPE and after limit.
func newLab(name string, subnet int, limit time.Duration) (*lab.Lab, error) {
	return lab.New(name, subnet, limit)
}

// The ksoftirqd threads: when softirq work runs long the kernel hands it
// to them, and their CPU is then no longer charged to the process.
var softirqd []string

func findSoftirqd() {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
		if strings.HasPrefix(string(b), "ksoftirqd/") {
			softirqd = append(softirqd, "/proc/"+e.Name()+"/stat")
		}
	}
}

// softirqdCPU is the ksoftirqd threads' user+system time.
func softirqdCPU() time.Duration {
	var ticks int64
	for _, p := range softirqd {
		b, _ := os.ReadFile(p)
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			f := strings.Fields(s[i+1:])
			if len(f) > 12 {
				u, _ := strconv.ParseInt(f[11], 10, 64)
				st, _ := strconv.ParseInt(f[12], 10, 64)
				ticks += u + st
			}
		}
	}
	return time.Duration(ticks) * time.Second / 100
}

type result struct {
	pkts       int64 // read by the receiver (rx) or counted on vB (tx)
	wire       int64 // vB rx_packets
	calls      int64 // sleeps (rx) or system calls (tx)
	drops      int64 // socket, ring or veth drops
	worker     time.Duration
	proc, sirq time.Duration
	machine    time.Duration
	load       string
}

func (r result) cpu() time.Duration { return r.proc + r.sirq }

func us(d time.Duration, n int64) float64 { return d.Seconds() * 1e6 / float64(max(n, 1)) }

func measure(l *lab.Lab, names []string, dur time.Duration, reps int, run func(*lab.Lab, string, time.Duration) (result, error)) error {
	fmt.Printf("# %s, load %s\n", time.Now().UTC().Format(time.RFC3339), Loadavg())
	all := map[string][]result{}
	for rep := 0; rep < reps; rep++ {
		for i := range names {
			name := names[(i+rep)%len(names)]
			if err := freshVeth(l); err != nil {
				return err
			}
			r, err := run(l, name, dur)
			if err != nil {
				fmt.Printf("rep %d %-12s failed: %v\n", rep, name, err)
				continue
			}
			fmt.Printf("rep %d %-12s %7.1f kpps, on vB %7.1f kpps, process %.2fs + ksoftirqd %.2fs = %.2f µs/pkt (%.2f per pkt on vB), worker %.2fs, calls or sleeps %d, drops %d, machine busy %.2fs, load %s\n",
				rep, name, float64(r.pkts)/dur.Seconds()/1e3, float64(r.wire)/dur.Seconds()/1e3, r.proc.Seconds(), r.sirq.Seconds(),
				us(r.cpu(), r.pkts), us(r.cpu(), r.wire), r.worker.Seconds(), r.calls, r.drops, r.machine.Seconds(), r.load)
			all[name] = append(all[name], r)
		}
	}
	kpps := func(r result) float64 { return float64(r.pkts) / dur.Seconds() / 1e3 }
	cpu := func(r result) float64 { return us(r.cpu(), r.pkts) }
	var refK, refC float64
	for _, ref := range []string{"raw", "raw-send"} {
		if rs := all[ref]; len(rs) > 0 {
			refK, refC = lab.Median(rs, kpps), lab.Median(rs, cpu)
		}
	}
	fmt.Printf("\n# medians of %d, load %s at the end\n| case | kpps | on vB kpps | CPU µs/pkt (process + ksoftirqd) | CPU µs per pkt on vB | worker µs/pkt | sleeps or calls per 1000 pkts | drops/s | ÷ raw: kpps, CPU/pkt | loads |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n", reps, Loadavg())
	for _, n := range names {
		rs := all[n]
		if len(rs) == 0 {
			continue
		}
		var loads []string
		for _, r := range rs {
			loads = append(loads, r.load)
		}
		k, c := lab.Median(rs, kpps), lab.Median(rs, cpu)
		ratio := "—"
		if refK > 0 && k > 0 {
			ratio = fmt.Sprintf("%.2f, %.2f", k/refK, c/refC)
		}
		fmt.Printf("| %s | %.1f | %.1f | %.2f | %.2f | %.2f | %.1f | %.0f | %s | %s |\n", n, k,
			lab.Median(rs, func(r result) float64 { return float64(r.wire) / dur.Seconds() / 1e3 }), c,
			lab.Median(rs, func(r result) float64 { return us(r.cpu(), r.wire) }),
			lab.Median(rs, func(r result) float64 { return us(r.worker, r.pkts) }),
			lab.Median(rs, func(r result) float64 { return float64(r.calls) * 1000 / float64(max(r.pkts, 1)) }),
			lab.Median(rs, func(r result) float64 { return float64(r.drops) / dur.Seconds() }),
			ratio, strings.Join(loads, " "))
	}
	return nil
}

// Loadavg is /proc/loadavg's three averages.
func Loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// inB runs fn on a thread in B and waits.
func inB(l *lab.Lab, fn func() error) error { return <-lab.Go(l.B, fn) }

// counters read around a case.
type snap struct {
	proc, sirq, machine time.Duration
	wire, drops         uint64
}

func take(l *lab.Lab) snap {
	return snap{lab.ProcessCPU(), softirqdCPU(), lab.MachineBusy(), lab.LinkStat(l.B, "vB", "rx_packets"),
		lab.LinkStat(l.B, "vB", "rx_dropped") + lab.LinkStat(l.A, "vA", "tx_dropped")}
}

func (r *result) between(l *lab.Lab, s0, s1 snap) {
	r.proc, r.sirq, r.machine = s1.proc-s0.proc, s1.sirq-s0.sirq, s1.machine-s0.machine
	r.wire = int64(s1.wire - s0.wire)
	r.drops += int64(s1.drops - s0.drops)
	r.load = lab.Load()
}

package main

import (
	"context"
	"fmt"
	"io"
	"time"
)

// runner runs the cases' tests and keeps what they measured.
type runner struct {
	env     *env
	seconds int
	log     io.Writer // progress lines
	port    int       // next iperf3 port
}

// runCase sets a case up, runs every test over it, and tears it down.
func (r *runner) runCase(ctx context.Context, spec caseSpec, rep int) *caseRun {
	cr := &caseRun{Rep: rep, Case: spec.name, Load: loadavg()}
	inst, err := spec.setup(ctx, r.env)
	if err != nil {
		cr.Error = "setup: " + err.Error()
		return cr
	}
	cr.Ran = true
	cr.Notes = inst.notes
	defer func() {
		if err := inst.teardown(); err != nil {
			cr.Notes = append(cr.Notes, "teardown: "+err.Error())
		}
		for i, d := range inst.daemons {
			cr.Daemons[i].LogTail = d.logTail(10)
		}
	}()
	for _, d := range inst.daemons {
		dr := &daemonRun{Side: d.side, PID: d.pid, Kind: d.kind, Dev: d.dev, TUN: tunDetails(ctx, d.ns, d.dev)}
		dr.Start, _ = d.totals(ctx)
		cr.Daemons = append(cr.Daemons, dr)
	}
	if err := reachable(ctx, r.env.topo.a, inst.client, inst.server, 10*time.Second); err != nil {
		cr.Error = "no connectivity: " + err.Error()
		return cr
	}
	for _, name := range testOrder {
		if ctx.Err() != nil {
			cr.Error = "interrupted"
			break
		}
		t := r.runTest(ctx, inst, name)
		if ctx.Err() != nil {
			cr.Error = "interrupted during " + name
			break // a test cut short is no measurement
		}
		cr.Tests = append(cr.Tests, t)
		fmt.Fprintf(r.log, "  rep %d %-12s %-8s %s\n", rep, spec.name, name, t.brief())
		if name == testTCP4 {
			for i, d := range inst.daemons {
				cr.Daemons[i].PeakRSSKiB, _ = peakRSSKiB(d.pid)
			}
		}
		if d := exitedDaemon(inst.daemons); d != nil {
			cr.Error = fmt.Sprintf("%s in %s exited during %s: %s", d.kind, d.side, name, d.logTail(6))
			break
		}
	}
	for i, d := range inst.daemons {
		cr.Daemons[i].PeakRSSEndKiB, _ = peakRSSKiB(d.pid)
		cr.Daemons[i].End, _ = d.totals(ctx)
	}
	return cr
}

func exitedDaemon(ds []*daemon) *daemon {
	for _, d := range ds {
		if d.exited() {
			return d
		}
	}
	return nil
}

// runTest runs one test, with the daemons' CPU time and the path's
// counters read before and after.
func (r *runner) runTest(ctx context.Context, inst *caseInstance, name string) *testRun {
	t := &testRun{Test: name}
	topo := r.env.topo
	before := snapshotCounters(ctx, topo, inst.daemons)
	cpu0 := daemonCPU(inst.daemons)
	threads0 := daemonThreads(inst.daemons)
	machine0 := takeCPUSample()
	start := time.Now()
	switch name {
	case testPing:
		p, err := runPing(ctx, topo.a, inst.client, inst.server)
		if err != nil {
			t.Error = err.Error()
		}
		t.Ping = p
	default:
		j := iperfJob{clientNS: topo.a, serverNS: topo.b, client: inst.client, server: inst.server,
			port: 5201 + r.port%100, seconds: r.seconds}
		r.port++
		switch name {
		case testTCP4:
			j.streams = 4
		case testUDP64:
			j.udpLen = 64
		case testUDP1400:
			j.udpLen = 1400
		}
		res, err := runIperf(ctx, j)
		if err != nil {
			t.Error = err.Error()
			break
		}
		t.Iperf = res
		if j.udpLen > 0 {
			t.PPS = res.packetsPerSecond()
		} else {
			t.Gbps = res.BitsPerSecond / 1e9
		}
	}
	t.Seconds = time.Since(start).Seconds()
	machine1 := takeCPUSample()
	cpu1 := daemonCPU(inst.daemons)
	threads1 := daemonThreads(inst.daemons)
	var daemonsUsed float64
	for side, c := range cpu1 {
		daemonsUsed += c - cpu0[side]
	}
	t.OtherCPU, t.StealCPU = machine1.othersSince(machine0, daemonsUsed)
	if len(inst.daemons) > 0 {
		t.DaemonCPU = map[string]float64{}
		t.Threads = map[string]threadUse{}
		for side, after := range threads1 {
			t.Threads[side] = spread(threads0[side], after, t.Seconds)
		}
		var sum float64
		for side, c := range cpu1 {
			t.DaemonCPU[side] = c - cpu0[side]
			sum += c - cpu0[side]
		}
		if t.Iperf != nil && t.Gbps > 0 && t.Iperf.Bytes > 0 {
			t.CPUPerGB = sum / (float64(t.Iperf.Bytes) / 1e9)
		}
	}
	t.Counters = snapshotCounters(ctx, topo, inst.daemons).sub(before)
	return t
}

// daemonCPU reads each daemon's CPU seconds so far, by side.
func daemonCPU(ds []*daemon) map[string]float64 {
	m := map[string]float64{}
	for _, d := range ds {
		if s, err := cpuSeconds(d.pid); err == nil {
			m[d.side] = s
		}
	}
	return m
}

// daemonThreads reads the CPU seconds of each daemon's threads, by side.
func daemonThreads(ds []*daemon) map[string]map[int]float64 {
	m := map[string]map[int]float64{}
	for _, d := range ds {
		m[d.side] = threadCPU(d.pid)
	}
	return m
}

// brief is one progress line's worth of a test result.
func (t *testRun) brief() string {
	switch {
	case t.Error != "":
		return "failed: " + t.Error
	case t.Ping != nil:
		return fmt.Sprintf("rtt median %.3f ms (%d/%d replies)", t.Ping.MedianMs, t.Ping.Received, t.Ping.Sent)
	case t.Iperf != nil && (t.Test == testUDP64 || t.Test == testUDP1400):
		return fmt.Sprintf("%.1f kpps received, %.1f%% lost", t.PPS/1e3, t.Iperf.LostPercent)
	case t.Iperf != nil:
		s := fmt.Sprintf("%.2f Gbit/s, %d retransmits", t.Gbps, t.Iperf.Retransmits)
		if t.CPUPerGB > 0 {
			s += fmt.Sprintf(", daemons %.2f CPU-s/GB", t.CPUPerGB)
		}
		for _, side := range []string{"A", "B"} {
			if u, ok := t.Threads[side]; ok && t.Seconds > 0 {
				s += fmt.Sprintf(", %s %.2f cores %d/%d threads busy", side, t.DaemonCPU[side]/t.Seconds, u.Busy, u.Threads)
			}
		}
		return s
	}
	return "no result"
}

package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Other work on the machine competes with a benchmark for the CPUs. To
// show how much, each test samples the machine's busy CPU time
// (/proc/stat) before and after, and takes off what the run itself used:
// the harness and every child it reaped (iperf3, ping, ip: getrusage), the
// daemons (/proc/PID/stat) and the kernel threads (ksoftirqd does the
// run's network work; /proc/PID/stat with PF_KTHREAD). What remains is
// other processes' time. Counting other processes one by one instead would
// miss or double-count short-lived ones reaped in between.

// pfKthread is PF_KTHREAD in /proc/PID/stat's flags field.
const pfKthread = 0x00200000

// cpuSample is the CPU seconds used so far, all CPUs together.
type cpuSample struct {
	busy     float64 // user+nice+system+irq+softirq over all CPUs (/proc/stat)
	steal    float64 // time the hypervisor gave to other guests
	ours     float64 // the harness and its reaped children
	kthreads float64
}

func takeCPUSample() cpuSample {
	var s cpuSample
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		s.busy, s.steal = parseProcStat(string(b))
	}
	var self, children syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &self) == nil && syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children) == nil {
		s.ours = tv(self.Utime) + tv(self.Stime) + tv(children.Utime) + tv(children.Stime)
	}
	s.kthreads = kernelThreadsCPU()
	return s
}

// othersSince is the CPU seconds other processes used since before;
// daemons is what the run's daemons used meanwhile.
func (s cpuSample) othersSince(before cpuSample, daemons float64) (others, steal float64) {
	others = (s.busy - before.busy) - (s.ours - before.ours) - (s.kthreads - before.kthreads) - daemons
	return max(others, 0), s.steal - before.steal
}

// parseProcStat reads the "cpu" line: user nice system idle iowait irq
// softirq steal …, in clock ticks.
func parseProcStat(text string) (busy, steal float64) {
	line, _, _ := strings.Cut(text, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0
	}
	var v [8]float64
	for i := range v {
		v[i], _ = strconv.ParseFloat(f[i+1], 64)
	}
	busy = v[0] + v[1] + v[2] + v[5] + v[6]
	return busy / clockTicks, v[7] / clockTicks
}

// kernelThreadsCPU sums the CPU time of every kernel thread.
func kernelThreadsCPU() float64 {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var sum float64
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%s/stat", e.Name()))
		if err != nil {
			continue
		}
		if secs, kthread := statCPUAndKind(string(b)); kthread {
			sum += secs
		}
	}
	return sum
}

// statCPUAndKind returns utime+stime in seconds and whether the line is a
// kernel thread's.
func statCPUAndKind(stat string) (float64, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3
	if len(f) < 13 {
		return 0, false
	}
	flags, err := strconv.ParseUint(f[6], 10, 64)
	if err != nil {
		return 0, false
	}
	secs, err := parseStatCPU(stat)
	return secs, err == nil && flags&pfKthread != 0
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

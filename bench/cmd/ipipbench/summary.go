package main

import (
	"slices"
	"strconv"
	"strings"
)

// caseSummary is one case over all repetitions: every metric's median and
// range, and why runs or tests failed.
type caseSummary struct {
	name, about string
	runs        []*caseRun
	ran         int                 // repetitions whose set-up succeeded
	errors      []string            // case-level failures, "rep N: …"
	testErrors  map[string][]string // per test, "rep N: …"
	metrics     map[string]summary
	counters    map[string]netCounters // per test: median delta of each counter
	daemons     bool
	kind        string            // the daemons' kind (ipipd, wireguard-go); "" for a kernel case
	devs        map[string]string // the daemons' TUN devices, by side
}

// Metric keys of caseSummary.metrics.
const (
	mTCP1       = "tcp1 Gbit/s"
	mTCP4       = "tcp4 Gbit/s"
	mTCP1Retr   = "tcp1 retransmits"
	mTCP4Retr   = "tcp4 retransmits"
	mUDP64      = "udp64 pps"
	mUDP64Loss  = "udp64 loss %"
	mUDP64Sent  = "udp64 sent"
	mUDP1400    = "udp1400 pps"
	mUDP1400L   = "udp1400 loss %"
	mUDP1400S   = "udp1400 sent"
	mPing       = "ping ms"
	mCPUPerGB   = "daemon CPU-s/GB"
	mRSSA       = "peak RSS A KiB"
	mRSSB       = "peak RSS B KiB"
	mUDP64CPU   = "udp64 daemon CPU-s"
	mUDP64Recvd = "udp64 received"
	mOther      = "other processes' CPUs"
)

// perDaemon is the key of a per-side metric of a test: how many cores the
// daemon of side kept busy ("cores"), its threads ("threads") and the
// busy ones among them ("busy"), its busiest thread ("top").
func perDaemon(test, side, what string) string { return test + " " + side + " " + what }

// summarizeCases groups the runs by case, in the order the cases were asked for.
func summarizeCases(res *results) []*caseSummary {
	var out []*caseSummary
	for _, name := range res.Meta.Cases {
		spec, _ := findCase(name)
		cs := &caseSummary{name: name, about: spec.about, testErrors: map[string][]string{},
			metrics: map[string]summary{}, counters: map[string]netCounters{}, devs: map[string]string{}}
		for _, r := range res.Runs {
			if r.Case == name {
				cs.runs = append(cs.runs, r)
			}
		}
		cs.fill()
		out = append(out, cs)
	}
	return out
}

func (cs *caseSummary) fill() {
	vals := map[string][]float64{}
	add := func(k string, v float64) { vals[k] = append(vals[k], v) }
	for _, r := range cs.runs {
		if r.Ran {
			cs.ran++
		}
		if r.Error != "" {
			cs.errors = append(cs.errors, repMsg(r.Rep, r.Error))
		}
		if len(r.Daemons) > 0 {
			cs.daemons = true
		}
		for _, d := range r.Daemons {
			cs.kind = d.Kind
			if cs.kind == "" {
				cs.kind = kindIPIPD // runs from before the kind was kept
			}
			cs.devs[d.Side] = d.Dev
		}
		var cpu, gb float64
		for _, t := range r.Tests {
			if t.Seconds > 0 {
				add(mOther, t.OtherCPU/t.Seconds)
			}
			if t.Error != "" {
				cs.testErrors[t.Test] = append(cs.testErrors[t.Test], repMsg(r.Rep, t.Error))
				continue
			}
			for side, u := range t.Threads {
				if t.Seconds > 0 {
					add(perDaemon(t.Test, side, "cores"), t.DaemonCPU[side]/t.Seconds)
				}
				add(perDaemon(t.Test, side, "threads"), float64(u.Threads))
				add(perDaemon(t.Test, side, "busy"), float64(u.Busy))
				add(perDaemon(t.Test, side, "top"), u.Top)
			}
			switch t.Test {
			case testPing:
				add(mPing, t.Ping.MedianMs)
			case testTCP1, testTCP4:
				k, kr := mTCP1, mTCP1Retr
				if t.Test == testTCP4 {
					k, kr = mTCP4, mTCP4Retr
				}
				add(k, t.Gbps)
				add(kr, float64(t.Iperf.Retransmits))
				for _, c := range t.DaemonCPU {
					cpu += c
				}
				gb += float64(t.Iperf.Bytes) / 1e9
			case testUDP64:
				add(mUDP64, t.PPS)
				add(mUDP64Loss, t.Iperf.LostPercent)
				add(mUDP64Sent, float64(t.Iperf.Sent))
				add(mUDP64Recvd, float64(t.Iperf.Packets))
				var c float64
				for _, v := range t.DaemonCPU {
					c += v
				}
				add(mUDP64CPU, c)
			case testUDP1400:
				add(mUDP1400, t.PPS)
				add(mUDP1400L, t.Iperf.LostPercent)
				add(mUDP1400S, float64(t.Iperf.Sent))
			}
		}
		if len(r.Daemons) > 0 && gb > 0 {
			add(mCPUPerGB, cpu/gb)
		}
		for _, d := range r.Daemons {
			if d.PeakRSSKiB == 0 {
				continue
			}
			if d.Side == "A" {
				add(mRSSA, float64(d.PeakRSSKiB))
			} else {
				add(mRSSB, float64(d.PeakRSSKiB))
			}
		}
	}
	for k, v := range vals {
		cs.metrics[k] = summarize(v)
	}
	for _, test := range testOrder {
		cs.counters[test] = cs.medianCounters(test)
	}
}

// medianCounters is, for every counter that moved in some repetition of
// test, its median change (a repetition where it did not move counts 0).
func (cs *caseSummary) medianCounters(test string) netCounters {
	var deltas []netCounters
	keys := map[string]bool{}
	for _, r := range cs.runs {
		if t := r.test(test); t != nil && t.Error == "" {
			deltas = append(deltas, t.Counters)
			for k := range t.Counters {
				keys[k] = true
			}
		}
	}
	out := netCounters{}
	for k := range keys {
		var xs []float64
		for _, d := range deltas {
			xs = append(xs, float64(d[k]))
		}
		out[k] = int64(median(xs))
	}
	return out
}

// metric returns a summary, or the zero one (N == 0) when absent.
func (cs *caseSummary) metric(k string) summary { return cs.metrics[k] }

// failure is the reason to print instead of numbers when the case never
// produced any: its first error, else its first test error.
func (cs *caseSummary) failure() string {
	if len(cs.errors) > 0 {
		return cs.errors[0]
	}
	for _, t := range testOrder {
		if e := cs.testErrors[t]; len(e) > 0 {
			return e[0]
		}
	}
	return "no repetition ran"
}

// produced reports whether any test of the case gave a number.
func (cs *caseSummary) produced() bool {
	return slices.ContainsFunc([]string{mTCP1, mTCP4, mUDP64, mUDP1400, mPing}, func(k string) bool {
		return cs.metrics[k].ok()
	})
}

// hasNote reports whether a note of some run contains text.
func (cs *caseSummary) hasNote(text string) bool {
	for _, r := range cs.runs {
		for _, n := range r.Notes {
			if strings.Contains(n, text) {
				return true
			}
		}
	}
	return false
}

func repMsg(rep int, msg string) string {
	return "rep " + strconv.Itoa(rep) + ": " + msg
}

package main

import "fmt"

// checkResults is -check's verdict: for every case that ran (was set up),
// each TCP test moved data (> 0 bits/s) and each UDP test got packets
// through; for ipipd, each daemon counted packets both ways and no
// rx_errors or tx_errors; for wireguard-go, its TUN device did. No speed is asserted. A case that could not be
// set up is reported, not failed (the offload backend may not exist yet);
// a run where no case ran at all fails.
func checkResults(res *results) []string {
	var problems []string
	ran := 0
	for _, r := range res.Runs {
		where := fmt.Sprintf("%s (rep %d)", r.Case, r.Rep)
		if !r.Ran {
			continue
		}
		ran++
		if r.Error != "" {
			problems = append(problems, fmt.Sprintf("%s: %s", where, r.Error))
		}
		for _, name := range testOrder {
			t := r.test(name)
			switch {
			case name == testPing:
				continue // latency is reported, not asserted
			case t == nil:
				if r.Error == "" {
					problems = append(problems, fmt.Sprintf("%s: %s did not run", where, name))
				}
			case t.Error != "":
				problems = append(problems, fmt.Sprintf("%s: %s failed: %s", where, name, t.Error))
			case (name == testTCP1 || name == testTCP4) && !(t.Gbps > 0):
				problems = append(problems, fmt.Sprintf("%s: %s moved no data (0 bits/s)", where, name))
			case (name == testUDP64 || name == testUDP1400) && t.Iperf.Packets <= 0:
				problems = append(problems, fmt.Sprintf("%s: %s: the receiver got no packets (%d sent)", where, name, t.Iperf.Sent))
			}
		}
		for _, d := range r.Daemons {
			s, e := d.Start, d.End
			if e.RxPackets <= s.RxPackets || e.TxPackets <= s.TxPackets {
				problems = append(problems, fmt.Sprintf("%s: %s counted rx_packets +%d, tx_packets +%d; want both > 0",
					where, d.counterName(), e.RxPackets-s.RxPackets, e.TxPackets-s.TxPackets))
			}
			if e.RxErrors > s.RxErrors || e.TxErrors > s.TxErrors {
				problems = append(problems, fmt.Sprintf("%s: %s counted rx_errors +%d, tx_errors +%d; want 0",
					where, d.counterName(), e.RxErrors-s.RxErrors, e.TxErrors-s.TxErrors))
			}
		}
	}
	if ran == 0 {
		problems = append(problems, "no case could be set up: nothing was measured")
	}
	return problems
}

// counterName says whose counters Start and End are.
func (d *daemonRun) counterName() string {
	if d.Kind == kindWireGuard {
		return fmt.Sprintf("wireguard-go's TUN %s in %s", d.Dev, d.Side)
	}
	return "ipipd in " + d.Side
}

// skipped lists the cases that could not be set up, for -check's output.
func skipped(res *results) []string {
	var out []string
	for _, r := range res.Runs {
		if !r.Ran {
			out = append(out, fmt.Sprintf("%s (rep %d): %s", r.Case, r.Rep, r.Error))
		}
	}
	return out
}

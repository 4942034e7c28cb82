package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// iperfSlack is added to a test's duration for its deadline: connection
// set-up, the end-of-test exchange and a slow machine.
const iperfSlack = 20 * time.Second

// iperfJob is one iperf3 run: client in A, a one-shot server in B.
type iperfJob struct {
	clientNS, serverNS string
	server, client     string // addresses: the server binds, the client binds
	port               int
	seconds            int
	streams            int // -P; 0 or 1 for one
	udpLen             int // -u -l N -b 0 when > 0
}

// iperfResult is what the harness keeps of iperf3's JSON report.
type iperfResult struct {
	Bytes         int64   `json:"bytes"`           // received
	Seconds       float64 `json:"seconds"`         // receiver's interval
	BitsPerSecond float64 `json:"bits_per_second"` // received
	Retransmits   int64   `json:"retransmits,omitempty"`
	// UDP, from the receiver's side.
	Packets     int64   `json:"packets,omitempty"`      // received (sent minus lost)
	Lost        int64   `json:"lost_packets,omitempty"` // per the receiver's sequence numbers
	LostPercent float64 `json:"lost_percent,omitempty"`
	Sent        int64   `json:"sent_packets,omitempty"`
	// CPU use iperf3 reports for itself, percent of one host.
	SenderCPU   float64 `json:"sender_cpu_percent,omitempty"`
	ReceiverCPU float64 `json:"receiver_cpu_percent,omitempty"`
}

// runIperf starts the server, waits until it listens, runs the client and
// parses its JSON. The server is a one-shot (-1) and is killed if it is
// still there afterwards.
func runIperf(ctx context.Context, j iperfJob) (*iperfResult, error) {
	deadline := time.Duration(j.seconds)*time.Second + iperfSlack
	sctx, cancel := context.WithTimeout(ctx, deadline+5*time.Second)
	defer cancel()
	port := strconv.Itoa(j.port)
	srv := exec.CommandContext(sctx, "ip", inNS(j.serverNS, "iperf3", "-s", "-1", "-B", j.server, "-p", port)...)
	srv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	srv.WaitDelay = time.Second
	srvOut := lab.LockedBuffer{Limit: outputLimit}
	srv.Stdout, srv.Stderr = &srvOut, &srvOut
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("iperf3 server: %w", err)
	}
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Wait() }()
	defer func() {
		srv.Process.Kill() // no-op error if it has exited
		<-srvDone
	}()
	if err := waitListening(sctx, j.serverNS, j.port, srvDone); err != nil {
		return nil, fmt.Errorf("iperf3 server: %v: %s", err, tail(srvOut.String(), 3))
	}

	args := []string{"iperf3", "-c", j.server, "-B", j.client, "-p", port, "-t", strconv.Itoa(j.seconds), "-J", "--connect-timeout", "5000"}
	if j.streams > 1 {
		args = append(args, "-P", strconv.Itoa(j.streams))
	}
	if j.udpLen > 0 {
		args = append(args, "-u", "-l", strconv.Itoa(j.udpLen), "-b", "0")
	}
	stdout, stderr, err := lab.RunSplit(ctx, deadline, "ip", inNS(j.clientNS, args...)...)
	res, perr := parseIperf([]byte(stdout), j.udpLen > 0)
	if perr != nil {
		if err != nil {
			return nil, fmt.Errorf("iperf3 client: %v: %v %s", err, perr, tail(stderr, 2))
		}
		return nil, fmt.Errorf("iperf3 client: %v %s", perr, tail(stderr, 2))
	}
	if err != nil {
		return nil, fmt.Errorf("iperf3 client: %v", err)
	}
	return res, nil
}

// waitListening polls ss in the server's namespace until the port listens.
// Connecting to find out would use up the one-shot server.
func waitListening(ctx context.Context, ns string, port int, srvDone <-chan error) error {
	filter := fmt.Sprintf("sport = :%d", port)
	for start := time.Now(); time.Since(start) < 10*time.Second; {
		select {
		case err := <-srvDone:
			return fmt.Errorf("exited before listening (%v)", err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		out, err := lab.Run(ctx, cmdTimeout, "ip", inNS(ns, "ss", "-Hltn", filter)...)
		if err == nil && strings.TrimSpace(out) != "" {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not listening on port %d after 10s", port)
}

// iperfReport is the part of iperf3 -J output read here (iperf 3.x).
type iperfReport struct {
	Error string `json:"error"`
	End   struct {
		Sum         *iperfSum `json:"sum"`
		SumSent     *iperfSum `json:"sum_sent"`
		SumReceived *iperfSum `json:"sum_received"`
		CPU         *struct {
			HostTotal   float64 `json:"host_total"`
			RemoteTotal float64 `json:"remote_total"`
		} `json:"cpu_utilization_percent"`
	} `json:"end"`
}

type iperfSum struct {
	Seconds       float64 `json:"seconds"`
	Bytes         int64   `json:"bytes"`
	BitsPerSecond float64 `json:"bits_per_second"`
	Retransmits   int64   `json:"retransmits"`
	Packets       int64   `json:"packets"`
	LostPackets   int64   `json:"lost_packets"`
	LostPercent   float64 `json:"lost_percent"`
}

// parseIperf reads the client's -J report. TCP: end.sum_received. UDP:
// the receiver's numbers, end.sum_received where this iperf3 has it (3.10
// and later), else end.sum; received packets are its packets minus
// lost_packets (iperf3's "packets" there is the count the receiver expected
// from the sequence numbers).
func parseIperf(b []byte, udp bool) (*iperfResult, error) {
	var r iperfReport
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("no JSON report (%v)", err)
	}
	if r.Error != "" {
		return nil, fmt.Errorf("iperf3: %s", r.Error)
	}
	res := &iperfResult{}
	if r.End.CPU != nil {
		// The client is the sender here.
		res.SenderCPU, res.ReceiverCPU = r.End.CPU.HostTotal, r.End.CPU.RemoteTotal
	}
	if !udp {
		if r.End.SumReceived == nil {
			return nil, fmt.Errorf("iperf3 report has no end.sum_received")
		}
		s := r.End.SumReceived
		res.Bytes, res.Seconds, res.BitsPerSecond = s.Bytes, s.Seconds, s.BitsPerSecond
		if r.End.SumSent != nil {
			res.Retransmits = r.End.SumSent.Retransmits
		}
		return res, nil
	}
	s := r.End.SumReceived
	if s == nil || s.Packets == 0 {
		s = r.End.Sum
	}
	if s == nil {
		return nil, fmt.Errorf("iperf3 UDP report has neither end.sum_received nor end.sum")
	}
	res.Packets = s.Packets - s.LostPackets
	res.Lost, res.LostPercent = s.LostPackets, s.LostPercent
	res.Seconds, res.Bytes, res.BitsPerSecond = s.Seconds, s.Bytes, s.BitsPerSecond
	if r.End.Sum != nil {
		res.Sent = r.End.Sum.Packets
	}
	if res.Packets < 0 {
		res.Packets = 0
	}
	return res, nil
}

// packetsPerSecond is received packets over the receiver's interval.
func (r *iperfResult) packetsPerSecond() float64 {
	if r.Seconds <= 0 {
		return 0
	}
	return float64(r.Packets) / r.Seconds
}

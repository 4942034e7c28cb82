package demo

import (
	"context"
	"fmt"
	"regexp"
	"strings"
)

// pingResult is one ordered pair's ping across the tunnel.
type pingResult struct {
	From, To node
	Sent     int
	Received int
	AvgRTT   string // "0.123 ms", from ping's summary; "" if none
	Err      error  // set when no reply came back or ping could not run
	Reason   string // with Err: ping's last line, like "ping: bind: Cannot assign requested address"
}

// OK reports whether at least one echo reply came back.
func (r pingResult) OK() bool { return r.Err == nil && r.Received > 0 }

// String is the result line the demo prints for the pair.
func (r pingResult) String() string {
	pair := fmt.Sprintf("%-5s -> %-5s  %-12s -> %-12s", r.From.Name, r.To.Name, r.From.Tunnel, r.To.Tunnel)
	if r.OK() {
		s := fmt.Sprintf("%s  ok      %d/%d replies", pair, r.Received, r.Sent)
		if r.AvgRTT != "" {
			s += ", rtt avg " + r.AvgRTT
		}
		return s
	}
	if r.Sent > 0 {
		return fmt.Sprintf("%s  FAILED  %d/%d replies", pair, r.Received, r.Sent)
	}
	return fmt.Sprintf("%s  FAILED  %s", pair, r.Reason)
}

// pingArgs is the command that pings to's tunnel address from from's, so
// the request leaves through from's tunl0 route and the reply must come
// back through to's:
//
//	ip netns exec NS ping -c 2 -i 0.2 -W 2 -I 192.168.41.0 192.168.42.0
//
// -i 0.2 (allowed for root) keeps six pairs from taking six seconds.
func pingArgs(from, to node, count int) []string {
	return []string{"netns", "exec", from.NS, "ping", "-n", "-c", fmt.Sprint(count), "-i", "0.2", "-W", "2",
		"-I", from.Tunnel.String(), to.Tunnel.String()}
}

// ping runs pingArgs and reads its summary.
func ping(ctx context.Context, from, to node) pingResult {
	out, err := command(ctx, "ip", pingArgs(from, to, 2)...)
	r := parsePing(out)
	r.From, r.To = from, to
	if err != nil && r.Received == 0 {
		r.Err = err
		r.Reason = lastLine(out)
		if r.Reason == "" {
			r.Reason = err.Error()
		}
	}
	return r
}

// lastLine returns the last non-empty line of s, where ping says why it
// gave up.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

var (
	// iputils and busybox: "2 packets transmitted, 2 received, 0% packet loss"
	pingCounts = regexp.MustCompile(`(\d+) packets transmitted, (\d+) (?:packets )?received`)
	// iputils: "rtt min/avg/max/mdev = 0.050/0.061/0.072/0.011 ms";
	// busybox: "round-trip min/avg/max = 0.050/0.061/0.072 ms"
	pingRTT = regexp.MustCompile(`min/avg/max\S* = [\d.]+/([\d.]+)/\S* (\w+)`)
)

// parsePing reads the counts and the average round-trip time from ping's
// summary; fields it cannot find stay zero.
func parsePing(out string) pingResult {
	var r pingResult
	if m := pingCounts.FindStringSubmatch(out); m != nil {
		fmt.Sscan(m[1], &r.Sent)
		fmt.Sscan(m[2], &r.Received)
	}
	if m := pingRTT.FindStringSubmatch(out); m != nil {
		r.AvgRTT = m[1] + " " + m[2]
	}
	return r
}

// pairNames lists the failed pairs as "node1->node2, …".
func pairNames(rs []pingResult) string {
	var names []string
	for _, r := range rs {
		names = append(names, r.From.Name+"->"+r.To.Name)
	}
	return strings.Join(names, ", ")
}

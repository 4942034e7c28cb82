package demo

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePing(t *testing.T) {
	tests := []struct {
		name, out      string
		sent, received int
		rtt            string
	}{
		{"iputils", `PING 192.168.42.0 (192.168.42.0) from 192.168.41.0 : 56(84) bytes of data.
64 bytes from 192.168.42.0: icmp_seq=1 ttl=64 time=1.67 ms
64 bytes from 192.168.42.0: icmp_seq=2 ttl=64 time=63.5 ms

--- 192.168.42.0 ping statistics ---
2 packets transmitted, 2 received, 0% packet loss, time 1007ms
rtt min/avg/max/mdev = 1.670/32.592/63.514/30.922 ms
`, 2, 2, "32.592 ms"},
		{"iputils, no reply", `--- 192.168.42.0 ping statistics ---
2 packets transmitted, 0 received, 100% packet loss, time 1010ms
`, 2, 0, ""},
		{"busybox", `--- 192.168.42.0 ping statistics ---
2 packets transmitted, 1 packets received, 50% packet loss
round-trip min/avg/max = 0.061/0.061/0.061 ms
`, 2, 1, "0.061 ms"},
		{"not ping", "ping: 192.168.41.0: Cannot assign requested address\n", 0, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parsePing(tt.out)
			if r.Sent != tt.sent || r.Received != tt.received || r.AvgRTT != tt.rtt {
				t.Errorf("got sent %d received %d rtt %q, want %d %d %q", r.Sent, r.Received, r.AvgRTT, tt.sent, tt.received, tt.rtt)
			}
		})
	}
}

func TestPingResultLine(t *testing.T) {
	nodes := meshNodes("test00")
	ok := pingResult{From: nodes[0], To: nodes[1], Sent: 2, Received: 2, AvgRTT: "0.123 ms"}
	if got, want := ok.String(), "node1 -> node2  192.168.41.0 -> 192.168.42.0  ok      2/2 replies, rtt avg 0.123 ms"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	lost := pingResult{From: nodes[2], To: nodes[0], Sent: 2, Err: errors.New("exit status 1")}
	if got := lost.String(); lost.OK() || !strings.HasSuffix(got, "FAILED  0/2 replies") {
		t.Errorf("got %q, want a FAILED 0/2 line", got)
	}
	unrun := pingResult{From: nodes[0], To: nodes[2], Err: errors.New("exit status 2"), Reason: "ping: bind: Cannot assign requested address"}
	if got := unrun.String(); !strings.HasSuffix(got, "FAILED  ping: bind: Cannot assign requested address") {
		t.Errorf("got %q, want a FAILED line with ping's reason", got)
	}
	if got := lastLine("PING x\nping: bind: Cannot assign requested address\n\n"); got != "ping: bind: Cannot assign requested address" {
		t.Errorf("lastLine: got %q", got)
	}
	if got := pairNames([]pingResult{ok, lost}); got != "node1->node2, node3->node1" {
		t.Errorf("pairNames: got %q", got)
	}
	args := strings.Join(pingArgs(nodes[0], nodes[1], 2), " ")
	if want := "netns exec ipipd-demo-test00-node1 ping -n -c 2 -i 0.2 -W 2 -I 192.168.41.0 192.168.42.0"; args != want {
		t.Errorf("ping command: got %q, want %q", args, want)
	}
}

package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ipipd/ipipd/internal/engine"
)

// status is two tunnels as ipipd show would list them: the seed's fallback
// tunl0 and a point-to-point one.
func status() engine.Status {
	return engine.Status{
		Tunnels: []engine.TunnelStatus{
			{Name: "ipiptun", Local: "10.3.3.3", Remote: "10.4.4.4", MTU: 1480, PathMTU: 1500,
				Stats: engine.Stats{RxPackets: 7, RxBytes: 700, TxPackets: 9, TxBytes: 900, TxDropped: 2,
					Drops: map[string]uint64{"too_big": 2}}},
			{Name: "tunl0", Local: "any", Remote: "any", MTU: 1480, PathMTU: 1500, Fallback: true,
				Stats: engine.Stats{RxPackets: 3, RxErrors: 1, RxFrameErrors: 1, TxPacketSocket: 5, TxRawFallback: 1,
					Drops: map[string]uint64{"ecn_drop": 1}}},
		},
		Global: engine.GlobalStats{PortUnreachables: 4, Drops: map[string]uint64{"no_tunnel": 4, "bad_outer": 1},
			OuterErrors: 2, FragNeededDiscarded: 3},
	}
}

// The counters come out under their names, one series per tunnel, equal
// to what show prints.
func TestCountersPerTunnel(t *testing.T) {
	c := NewCollector(status)
	want := `
# HELP ipipd_tunnel_receive_packets_total Inner packets written into the tunnel's TUN device.
# TYPE ipipd_tunnel_receive_packets_total counter
ipipd_tunnel_receive_packets_total{tunnel="ipiptun"} 7
ipipd_tunnel_receive_packets_total{tunnel="tunl0"} 3
# HELP ipipd_tunnel_transmit_drop_total Packets too big for the path, or refused by the socket.
# TYPE ipipd_tunnel_transmit_drop_total counter
ipipd_tunnel_transmit_drop_total{tunnel="ipiptun"} 2
ipipd_tunnel_transmit_drop_total{tunnel="tunl0"} 0
# HELP ipipd_tunnel_transmit_packet_socket_total Outer packets sent as frames on the packet socket (--transmit packet).
# TYPE ipipd_tunnel_transmit_packet_socket_total counter
ipipd_tunnel_transmit_packet_socket_total{tunnel="ipiptun"} 0
ipipd_tunnel_transmit_packet_socket_total{tunnel="tunl0"} 5
# HELP ipipd_tunnel_info A tunnel's endpoints, always 1: join on tunnel to label other metrics with them.
# TYPE ipipd_tunnel_info gauge
ipipd_tunnel_info{dev="",local="10.3.3.3",mode="point-to-point",remote="10.4.4.4",tunnel="ipiptun"} 1
ipipd_tunnel_info{dev="",local="any",mode="fallback",remote="any",tunnel="tunl0"} 1
# HELP ipipd_icmp_port_unreachable_sent_total ICMP port unreachable answers sent for packets that matched no tunnel.
# TYPE ipipd_icmp_port_unreachable_sent_total counter
ipipd_icmp_port_unreachable_sent_total 4
# HELP ipipd_outer_frag_needed_discarded_total ICMP frag needed about outer packets discarded because net.ipv4.ip_no_pmtu_disc is 2 or 3.
# TYPE ipipd_outer_frag_needed_discarded_total counter
ipipd_outer_frag_needed_discarded_total 3
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"ipipd_tunnel_receive_packets_total", "ipipd_tunnel_transmit_drop_total",
		"ipipd_tunnel_transmit_packet_socket_total", "ipipd_tunnel_info", "ipipd_icmp_port_unreachable_sent_total",
		"ipipd_outer_frag_needed_discarded_total"); err != nil {
		t.Error(err)
	}
}

// receive_frame is frame plus length errors, as /proc/net/dev sums them
// for node_exporter.
func TestReceiveFrameSumsLikeProcNetDev(t *testing.T) {
	c := NewCollector(func() engine.Status {
		return engine.Status{Tunnels: []engine.TunnelStatus{{Name: "tunl0", Stats: engine.Stats{RxLengthErrors: 2, RxFrameErrors: 3}}}}
	})
	if !strings.Contains(exposition(t, c), `ipipd_tunnel_receive_frame_total{tunnel="tunl0"} 5`+"\n") {
		t.Error("receive_frame_total is not length + frame errors")
	}
}

// Every reason is a series from the start, zero or not, in its direction;
// the counts are show's.
func TestDropsByReason(t *testing.T) {
	c := NewCollector(status)
	got := map[string]float64{}
	for _, want := range []struct {
		labels string
		value  float64
	}{
		{`tunnel="ipiptun",direction="transmit",reason="too_big"`, 2},
		{`tunnel="tunl0",direction="receive",reason="ecn_drop"`, 1},
		{`tunnel="tunl0",direction="receive",reason="bad_coalesced"`, 0},
		{`tunnel="tunl0",direction="receive",reason="peer_filtered"`, 0},
		{`tunnel="tunl0",direction="transmit",reason="no_route"`, 0},
		{`tunnel="tunl0",direction="transmit",reason="loop"`, 0},
	} {
		got[want.labels] = want.value
	}
	if n := testutil.CollectAndCount(c, "ipipd_tunnel_drops_total"); n != 2*(5+5) {
		t.Errorf("%d drop series for 2 tunnels, want 2×(5 receive reasons after selection + 5 transmit reasons)", n)
	}
	if n := testutil.CollectAndCount(c, "ipipd_drops_total"); n != 4 {
		t.Errorf("%d daemon-wide drop series, want the 4 reasons before selection", n)
	}
	text := exposition(t, c)
	for labels, value := range got {
		line := "ipipd_tunnel_drops_total{" + reorder(labels) + "} " + formatValue(value)
		if !strings.Contains(text, line+"\n") {
			t.Errorf("missing %q", line)
		}
	}
	for _, line := range []string{`ipipd_drops_total{reason="no_tunnel"} 4`, `ipipd_drops_total{reason="bad_outer"} 1`, `ipipd_drops_total{reason="short_inner"} 0`} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("missing %q", line)
		}
	}
}

// The names, types and help texts pass Prometheus's own lint.
func TestLint(t *testing.T) {
	problems, err := testutil.CollectAndLint(NewCollector(status))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// A daemon with no tunnels exports the global metrics alone.
func TestNoTunnels(t *testing.T) {
	c := NewCollector(func() engine.Status { return engine.Status{} })
	if n := testutil.CollectAndCount(c, "ipipd_tunnel_receive_packets_total"); n != 0 {
		t.Errorf("%d tunnel series with no tunnel", n)
	}
	if n := testutil.CollectAndCount(c, "ipipd_socket_receive_errors_total"); n != 1 {
		t.Errorf("%d ipipd_socket_receive_errors_total series, want 1", n)
	}
}

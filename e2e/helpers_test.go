package e2e

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/engine"
	"github.com/ipipd/ipipd/internal/lab"
)

// addr parses an IPv4 address written in a test.
func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// warmUp pings dst from ns until a reply comes (ARP resolved, both daemons
// forwarding), then waits a little so that a second request NS.Ping may
// have sent meanwhile, and its reply, are through before a test counts
// packets.
func warmUp(t *testing.T, ns *lab.NS, dst netip.Addr) {
	t.Helper()
	if err := ns.Ping(dst, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
}

// delta returns the counters of tunnel name that grew between two
// `ipipd show` results.
func delta(t *testing.T, before, after engine.Status, name string) engine.Stats {
	t.Helper()
	find := func(st engine.Status) engine.Stats {
		for _, ts := range st.Tunnels {
			if ts.Name == name {
				return ts.Stats
			}
		}
		t.Fatalf("ipipd show lists no tunnel %q", name)
		return engine.Stats{}
	}
	b, a := find(before), find(after)
	d := engine.Stats{
		RxPackets: a.RxPackets - b.RxPackets, RxBytes: a.RxBytes - b.RxBytes,
		RxErrors: a.RxErrors - b.RxErrors, RxLengthErrors: a.RxLengthErrors - b.RxLengthErrors,
		RxFrameErrors: a.RxFrameErrors - b.RxFrameErrors, RxDropped: a.RxDropped - b.RxDropped,
		Multicast: a.Multicast - b.Multicast,
		TxPackets: a.TxPackets - b.TxPackets, TxBytes: a.TxBytes - b.TxBytes,
		TxErrors: a.TxErrors - b.TxErrors, TxDropped: a.TxDropped - b.TxDropped,
		TxCarrierErrors: a.TxCarrierErrors - b.TxCarrierErrors, ICMPSent: a.ICMPSent - b.ICMPSent,
		Drops: map[string]uint64{},
	}
	for k, v := range a.Drops {
		if v > b.Drops[k] {
			d.Drops[k] = v - b.Drops[k]
		}
	}
	return d
}

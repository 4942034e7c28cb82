package engine

import (
	"github.com/ipipd/ipipd/internal/netsetup"
	"github.com/ipipd/ipipd/tun"
)

// runtime is what lives as long as a tunnel's name stays in the config:
// its TUN device, its kernel set-up, its counters and its transmit loop.
// Reloads that keep the name keep the runtime, so counters and the device
// survive them.
type runtime struct {
	name    string
	backend string // config.TUNOffload or config.TUNWater: fixed for the device's life
	dev     tun.Device
	ifindex int // the device's, 0 in tests without devices
	// slot is the tunnel's number in the route table's next hops (see
	// route_slots.go), fixed for the runtime's life.
	slot     int
	table    int  // the routing table whose routes through the device count
	up       bool // as the last View showed it (or as created)
	downs    int  // kernelview.Link.Downs as the last View showed it
	setup    *netsetup.Applied
	counters *Counters
	// done is closed when the transmit loop has returned.
	done chan struct{}
	// softErrors is what ICMP errors about outer packets taught this
	// tunnel (ipip_err's err_count); it lives as long as the tunnel's name.
	// Path MTUs belong to outer destinations, not tunnels: netns.pmtu.
	softErrors softErrors
}

func newRuntime(name string, dev tun.Device, setup *netsetup.Applied) *runtime {
	return &runtime{name: name, dev: dev, setup: setup, counters: new(Counters), done: make(chan struct{})}
}

// Sender sends complete IPv4 packets; rawsock.Sender is the real one, and
// benchmarks use an in-memory fake. On error, packets [0,sent) went out and
// pkts[sent] failed with err; the caller counts it and goes on.
type Sender interface {
	Write(pkts [][]byte) (sent int, err error)
}

package kernelview

import (
	"net/netip"
	"testing"
)

// The local table's local and broadcast routes come with every View,
// whatever device holds the address, and follow it as it comes and goes.
func TestWatcherFollowsTheLocalTable(t *testing.T) {
	_, _, views := watch(t, "tunl0")
	own, brd := netip.MustParseAddr("10.77.1.1"), netip.MustParseAddr("10.77.1.255")
	// A broadcast address needs a broadcast-capable device, not lo.
	ip(t, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
	ip(t, "link", "set", "v0", "up")
	ip(t, "addr", "add", "10.77.1.1/24", "brd", "+", "dev", "v0")
	await(t, views, "10.77.1.1 local and 10.77.1.255 broadcast", func(v *View) bool {
		_, local := v.Local[own]
		_, broadcast := v.Broadcast[brd]
		_, wrong := v.Broadcast[own]
		return local && broadcast && !wrong
	})
	ip(t, "addr", "del", "10.77.1.1/24", "dev", "v0")
	await(t, views, "both gone", func(v *View) bool {
		_, local := v.Local[own]
		_, broadcast := v.Broadcast[brd]
		return !local && !broadcast
	})
}

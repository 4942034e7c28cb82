package e2e

import (
	"strings"
	"testing"

	"github.com/ipipd/ipipd/internal/lab"
)

// TestReloadMovesAndRollsBack checks what a reload does to the kernel's
// routes and devices, beyond the traffic test of TestReloadAndStop:
//   - a tunnel renamed with the same routes, and a route moved from one
//     tunnel to another, are accepted (the route leaves its old device
//     before it is added to the new one);
//   - a reload that fails part-way (here: a new tunnel whose name is taken
//     by an existing device) leaves the kernel exactly as it was: MTU,
//     routes and devices of the running config.
func TestReloadMovesAndRollsBack(t *testing.T) {
	lab.Require(t)
	ns := lab.New(t, "node")
	ns.Run(t, "ip", "link", "add", "name", "dummyx", "type", "veth", "peer", "name", "dummyy")
	cfg := func(tunnels string) string { return "tunnels:\n" + tunnels }
	d := startDaemon(t, ns, "node", cfg(`
  - {name: t1, local: 10.245.3.1, mtu: 1480, routes: [{to: 172.16.9.0/24}, {to: 172.16.10.0/24}]}
  - {name: t2, local: 10.245.3.2, mtu: 1480, routes: [{to: 172.16.11.0/24}]}
`))
	routes := func() string { return ns.Run(t, "ip", "route", "show") }
	linkMTU := func(name string) string {
		out := ns.Run(t, "ip", "link", "show", "dev", name)
		i := strings.Index(out, " mtu ")
		return strings.Fields(out[i+5:])[0]
	}
	has := func(route, dev string) bool { return strings.Contains(routes(), route+" dev "+dev+" ") }

	// A route moves from t1 to t2.
	d.mustReload(t, cfg(`
  - {name: t1, local: 10.245.3.1, mtu: 1480, routes: [{to: 172.16.9.0/24}]}
  - {name: t2, local: 10.245.3.2, mtu: 1480, routes: [{to: 172.16.11.0/24}, {to: 172.16.10.0/24}]}
`))
	if !has("172.16.10.0/24", "t2") || has("172.16.10.0/24", "t1") {
		t.Fatalf("172.16.10.0/24 did not move from t1 to t2:\n%s", routes())
	}
	// t2 is renamed t3, routes unchanged.
	d.mustReload(t, cfg(`
  - {name: t1, local: 10.245.3.1, mtu: 1480, routes: [{to: 172.16.9.0/24}]}
  - {name: t3, local: 10.245.3.2, mtu: 1480, routes: [{to: 172.16.11.0/24}, {to: 172.16.10.0/24}]}
`))
	if !has("172.16.11.0/24", "t3") || !has("172.16.10.0/24", "t3") {
		t.Fatalf("the renamed tunnel t3 lacks its routes:\n%s", routes())
	}
	if _, err := ns.Try("ip", "link", "show", "dev", "t2"); err == nil {
		t.Fatalf("t2 still exists after the rename")
	}
	before := routes()

	// A reload that changes t1 and moves a route, then fails on a tunnel
	// whose name belongs to an existing device.
	if d.reload(t, cfg(`
  - {name: t1, local: 10.245.3.1, mtu: 1400, routes: [{to: 172.16.9.0/24}, {to: 172.16.12.0/24}, {to: 172.16.10.0/24}]}
  - {name: t3, local: 10.245.3.2, mtu: 1480, routes: [{to: 172.16.11.0/24}]}
  - {name: dummyx, local: 10.245.3.3, routes: [{to: 172.16.13.0/24}]}
`)) {
		t.Fatalf("a reload with a tunnel named like an existing device was accepted")
	}
	if got := routes(); got != before {
		t.Errorf("routes changed by a refused reload:\nbefore:\n%s\nafter:\n%s", before, got)
	}
	if mtu := linkMTU("t1"); mtu != "1480" {
		t.Errorf("t1 MTU %s after a refused reload, want 1480", mtu)
	}
	if show := d.tunnel(t, "t1"); show.MTU != 1480 || len(show.Routes) != 1 {
		t.Errorf("show reports t1 as %+v after a refused reload", show)
	}
	// Changing the TUN backend needs a restart: refused with that reason.
	if d.reload(t, cfg(`
  - {name: t1, local: 10.245.3.1, mtu: 1480, tun: water, routes: [{to: 172.16.9.0/24}]}
  - {name: t3, local: 10.245.3.2, mtu: 1480, routes: [{to: 172.16.11.0/24}, {to: 172.16.10.0/24}]}
`)) || !strings.Contains(d.proc.Output(), "needs a restart") {
		t.Errorf("a backend change on reload was not refused with its reason:\n%s", d.proc.Output())
	}
}

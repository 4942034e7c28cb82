package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ipipd/ipipd/internal/lab"
)

// TestReloadPutsBackWhatWasDeleted deletes one of the file's routes from
// outside ipipd (`ip route del`) and reloads at once, as a script would:
// the reload must install it again, whether the file leaves the tunnel as
// it was or changes it. A reload leaves a tunnel alone, or skips reading
// its routes back, only when the kernel's View shows it whole, and that
// View must already hold the deletion made just before the SIGHUP.
func TestReloadPutsBackWhatWasDeleted(t *testing.T) {
	lab.Require(t)
	l := newLAN(t, 1)
	node := l.nodes[0]
	same := fallbackConfig(0, []int{1, 2})
	changed := fallbackConfig(0, []int{1, 2, 3})
	d := startDaemon(t, node, "node1", same)
	hasRoute := func(p string) bool {
		return strings.Contains(node.Run(t, "ip", "route", "show", p), "dev tunl0")
	}
	for round := range 6 {
		cfg, what := same, "the same file"
		if round%2 == 1 {
			cfg, what = changed, "a file adding a route to the tunnel"
		}
		gone := tunnelSubnet(1 + round%2).String()
		node.Run(t, "ip", "route", "del", gone, "dev", "tunl0")
		d.mustReload(t, cfg)
		if !hasRoute(gone) {
			t.Fatalf("round %d: %s deleted from outside, then a reload with %s: the route is not back:\n%s",
				round, gone, what, node.Run(t, "ip", "route", "show"))
		}
		if round%2 == 1 && !hasRoute(tunnelSubnet(3).String()) {
			t.Fatalf("round %d: the reload did not add %s", round, tunnelSubnet(3))
		}
		if routes := d.tunnel(t, "tunl0").Routes; len(routes) != 2+round%2 {
			t.Errorf("round %d: ipipd show lists %d routes, want %d: %+v", round, len(routes), 2+round%2, routes)
		}
	}
}

// A reload that takes a tunnel's only address away: the kernel flushes
// every route through the device with it, without a notification, and the
// reload must put back the routes the file still asks for.
func TestReloadWithoutTheLastAddressKeepsTheRoutes(t *testing.T) {
	lab.Require(t)
	l := newLAN(t, 1)
	node := l.nodes[0]
	with := fallbackConfig(0, []int{1, 2})
	without := strings.Replace(with, fmt.Sprintf("    addresses: [%s/32]\n", tunnelAddr(0)), "", 1)
	if without == with {
		t.Fatalf("the config has no addresses line to take away:\n%s", with)
	}
	d := startDaemon(t, node, "node1", with)
	for round, cfg := range []string{without, with, without} {
		d.mustReload(t, cfg)
		for _, p := range []int{1, 2} {
			if out := node.Run(t, "ip", "route", "show", tunnelSubnet(p).String()); !strings.Contains(out, "dev tunl0") {
				t.Fatalf("round %d: no route %s dev tunl0 after the reload:\n%s", round, tunnelSubnet(p), node.Run(t, "ip", "route", "show"))
			}
		}
	}
}

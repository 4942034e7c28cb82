package engine

import (
	"net/netip"
	"testing"

	"github.com/ipipd/ipipd/internal/kernelview"
	"github.com/ipipd/ipipd/internal/netsetup"
)

// The routes deleted before removed tunnels' devices are those the View
// shows through devices of the tunnels' names, one per route: a device the
// View names otherwise is someone else's (the tunnel's was deleted and its
// number reused), and its routes are not ipipd's to delete.
func TestRoutesThroughOnlyTheTunnelsDevices(t *testing.T) {
	to := netip.MustParsePrefix("10.70.0.0/24")
	v := &kernelview.View{
		Links: map[int]kernelview.Link{7: {Index: 7, Name: "t0"}, 8: {Index: 8, Name: "someone"}},
		Routes: map[int][]kernelview.Route{
			7: {{To: to, Table: 254, Via: netip.MustParseAddr("10.245.1.3")}, {To: to, Table: 254, Via: netip.MustParseAddr("10.245.1.4")}},
			8: {{To: netip.MustParsePrefix("10.71.0.0/24"), Table: 254}},
		},
	}
	got := routesThrough(v, []netsetup.LinkRef{{Index: 7, Name: "t0"}, {Index: 8, Name: "t1"}})
	want := []netsetup.RouteKey{{Index: 7, Table: 254, To: to}}
	if len(got) != 1 || got[0] != want[0] {
		t.Errorf("routesThrough = %v, want %v", got, want)
	}
	if got := routesThrough(nil, []netsetup.LinkRef{{Index: 7, Name: "t0"}}); got != nil {
		t.Errorf("routesThrough with no View = %v, want none", got)
	}
}

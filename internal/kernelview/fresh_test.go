package kernelview

import "testing"

// A down and up in quick succession: the View says the device went down
// (Downs), though it is up again, and Fresh shows it at once: it waits for
// the notifications of both.
func TestWatcherCountsDownsAndReadsFresh(t *testing.T) {
	w, index, views := watch(t, "tunl0")
	ip(t, "route", "add", "192.168.42.0/24", "via", "10.245.1.3", "dev", "tunl0", "onlink")
	await(t, views, "the route", func(v *View) bool { return len(v.Routes[index]) == 1 })
	ip(t, "link", "set", "tunl0", "down")
	ip(t, "link", "set", "tunl0", "up")
	v := w.Fresh()
	if v == nil {
		t.Fatal("Fresh returned no View")
	}
	if l := v.Links[index]; !l.Up || l.Downs != 1 || len(v.Routes[index]) != 0 {
		t.Errorf("Fresh after down and up: link %+v, %d routes; want up, Downs 1, the routes flushed", l, len(v.Routes[index]))
	}
	w.Close()
	if w.Fresh() != nil {
		t.Error("Fresh after Close returned a View")
	}
}

// A multipath route keeps its next hop through a device that went down and
// up: the kernel marks it dead and revives it without a notification, and
// the watcher reads the routes again on the up.
func TestWatcherRevivesMultipathHopsOnUp(t *testing.T) {
	_, index, views := watch(t, "tunl0")
	ip(t, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
	ip(t, "link", "set", "v0", "up")
	ip(t, "link", "set", "v1", "up")
	ip(t, "route", "add", "192.168.44.0/24", "nexthop", "via", "10.245.1.3", "dev", "tunl0", "onlink",
		"nexthop", "via", "10.245.1.9", "dev", "v0", "onlink")
	await(t, views, "the tunl0 hop", func(v *View) bool { return len(routeVias(v, index, "192.168.44.0/24")) == 1 })
	ip(t, "link", "set", "tunl0", "down")
	await(t, views, "the hop gone with the device down", func(v *View) bool { return len(routeVias(v, index, "192.168.44.0/24")) == 0 })
	ip(t, "link", "set", "tunl0", "up")
	await(t, views, "the hop back after up", func(v *View) bool {
		return v.Links[index].Up && len(routeVias(v, index, "192.168.44.0/24")) == 1
	})
}

package kernelview

import (
	"maps"
	"net/netip"
	"slices"
	"testing"

	"github.com/ipipd/ipipd/internal/lab"
	"github.com/ipipd/ipipd/tun"
	"github.com/vishvananda/netlink"
)

// Devices added to the watched set are read one by one; the View must be
// what a read of everything gives: links, addresses, routes of every
// table through them (multipath ones whole), the local table.
func TestNewDevicesReadAsEverythingWould(t *testing.T) {
	lab.EnterFresh(t)
	ip(t, "addr", "add", "10.245.1.2/24", "dev", "lo")
	index := map[string]int{}
	for _, name := range []string{"d0", "d1", "d2", "d3"} {
		dev, err := tun.OpenWater(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dev.Close() })
		ip(t, "link", "set", name, "up")
		l, err := netlink.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		index[name] = l.Attrs().Index
	}
	ip(t, "addr", "add", "192.168.41.1/24", "dev", "d1")
	ip(t, "addr", "add", "10.9.9.9/32", "dev", "d1")
	ip(t, "addr", "add", "192.168.45.1/24", "dev", "d3")
	ip(t, "route", "add", "192.168.42.0/24", "via", "10.245.1.3", "dev", "d0", "onlink")
	ip(t, "route", "add", "192.168.43.0/24", "via", "10.245.1.4", "dev", "d1", "onlink", "proto", "bird")
	ip(t, "route", "add", "192.168.44.0/24", "nexthop", "via", "10.245.1.5", "dev", "d1", "onlink", "weight", "2",
		"nexthop", "via", "10.245.1.6", "dev", "d2", "onlink", "nexthop", "via", "10.245.1.7", "dev", "d3", "onlink")
	ip(t, "route", "add", "192.168.46.0/24", "via", "10.245.1.8", "dev", "d2", "onlink", "table", "100")
	ip(t, "route", "add", "192.168.47.0/24", "via", "10.245.1.9", "dev", "d3", "onlink")

	start := func() (*Watcher, chan *View) {
		views := make(chan *View, 1024)
		w, err := Start(Options{Publish: func(v *View) { views <- v }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Close)
		return w, views
	}
	want := map[int]int{index["d0"]: 254, index["d1"]: 254, index["d2"]: 100}

	one, _ := start()
	one.Watch(map[int]int{index["d0"]: 254})
	if v := one.Fresh(); v == nil || len(v.Routes[index["d0"]]) != 1 {
		t.Fatalf("watching d0 alone: %+v", v)
	}
	one.Watch(want)
	got := one.Fresh()

	defer func(n int) { manyNew = n }(manyNew)
	manyNew = 0 // the reference reads everything
	all, _ := start()
	all.Watch(want)
	ref := all.Fresh()
	if got == nil || ref == nil {
		t.Fatal("no View")
	}
	for _, d := range []string{"d0", "d1", "d2"} {
		i := index[d]
		g, r := got.Links[i], ref.Links[i]
		g.Downs, r.Downs = 0, 0
		if g != r {
			t.Errorf("%s: link %+v, reading everything %+v", d, g, r)
		}
		if !slices.Equal(sortedBy(got.Addresses[i], netip.Prefix.Compare), sortedBy(ref.Addresses[i], netip.Prefix.Compare)) {
			t.Errorf("%s: addresses %v, reading everything %v", d, got.Addresses[i], ref.Addresses[i])
		}
		byText := func(a, b Route) int { return cmpText(a, b) }
		if !slices.Equal(sortedBy(got.Routes[i], byText), sortedBy(ref.Routes[i], byText)) || len(ref.Routes[i]) == 0 {
			t.Errorf("%s: routes %+v, reading everything %+v", d, got.Routes[i], ref.Routes[i])
		}
	}
	if _, ok := got.Links[index["d3"]]; ok {
		t.Errorf("d3 is not watched, but the View shows it")
	}
	if !maps.Equal(got.Local, ref.Local) || !maps.Equal(got.Broadcast, ref.Broadcast) {
		t.Errorf("local table: %v %v, reading everything %v %v", got.Local, got.Broadcast, ref.Local, ref.Broadcast)
	}
	// d2 watched for another table: its routes of that table.
	want[index["d2"]] = 254
	one.Watch(want)
	if v := one.Fresh(); v == nil || len(v.Routes[index["d2"]]) != 1 || v.Routes[index["d2"]][0].To.String() != "192.168.44.0/24" {
		t.Errorf("d2 watched for table main: routes %+v, want the multipath route's hop alone", v.Routes[index["d2"]])
	}
	// And d0 leaving the set takes its routes out of the View.
	delete(want, index["d0"])
	one.Watch(want)
	if v := one.Fresh(); v == nil || len(v.Routes[index["d0"]]) != 0 || len(v.Routes[index["d1"]]) == 0 {
		t.Errorf("after d0 left the watched set: %+v", v)
	}
}

func sortedBy[T any](s []T, cmp func(a, b T) int) []T {
	return slices.SortedFunc(slices.Values(s), cmp)
}

func cmpText(a, b Route) int {
	if c := a.To.Compare(b.To); c != 0 {
		return c
	}
	if c := a.Via.Compare(b.Via); c != 0 {
		return c
	}
	return (a.Table*1000 + a.Weight) - (b.Table*1000 + b.Weight)
}

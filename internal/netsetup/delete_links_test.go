package netsetup

import (
	"fmt"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/ipipd/ipipd/internal/lab"
	"github.com/ipipd/ipipd/tun"
)

// DeleteLinks deletes the devices it is given, leaves every other device
// (one in a group of its own, and one whose index it is given under
// another name, as when a deleted device's number is reused), and is
// faster than closing the TUN descriptors one by one, which is how the
// kernel otherwise deletes them.
func TestDeleteLinksDeletesThoseGivenInOneRequest(t *testing.T) {
	lab.EnterFresh(t)
	const devices = 60
	open := func(prefix string) ([]LinkRef, []tun.Device) {
		var links []LinkRef
		var devs []tun.Device
		for i := range devices {
			name := fmt.Sprintf("%s%d", prefix, i)
			link, dev := addDevice(t, name, 1500)
			links = append(links, LinkRef{Index: link.Attrs().Index, Name: name})
			devs = append(devs, dev)
		}
		return links, devs
	}
	keep, _ := addDevice(t, "keep0", 1500)
	grouped, _ := addDevice(t, "keep1", 1500)
	if err := netlink.LinkSetGroup(grouped, 7); err != nil {
		t.Fatal(err)
	}

	links, devs := open("del")
	reused := LinkRef{Index: keep.Attrs().Index, Name: "del-reused"}
	start := time.Now()
	skipped, err := DeleteLinks(append(links, reused))
	if err != nil {
		t.Fatalf("DeleteLinks: %v", err)
	}
	inOne := time.Since(start)
	if len(skipped) != 1 || skipped[0] != reused {
		t.Errorf("skipped %v, want only %v", skipped, reused)
	}
	for _, d := range devs {
		d.Close()
	}
	for _, l := range links {
		if got, err := netlink.LinkByIndex(l.Index); err == nil {
			t.Errorf("device %s (%d) still there", got.Attrs().Name, l.Index)
		}
	}
	for _, name := range []string{"keep0", "keep1"} {
		if _, err := netlink.LinkByName(name); err != nil {
			t.Errorf("%s, not given, was deleted: %v", name, err)
		}
	}
	if l := refresh(t, "keep1"); l.Attrs().Group != 7 {
		t.Errorf("keep1's group changed to %d", l.Attrs().Group)
	}

	_, devs = open("close")
	start = time.Now()
	for _, d := range devs {
		d.Close()
	}
	oneByOne := time.Since(start)
	t.Logf("%d devices: deleted in one request in %v, by closing each in %v (%.1fx)", devices, inOne, oneByOne, float64(oneByOne)/float64(inOne))
	if inOne > oneByOne {
		t.Errorf("one request took %v, closing each %v: the batch buys nothing", inOne, oneByOne)
	}
}

func TestDeleteLinksOfNothing(t *testing.T) {
	if skipped, err := DeleteLinks(nil); err != nil || skipped != nil {
		t.Errorf("DeleteLinks(nil) = %v, %v", skipped, err)
	}
}

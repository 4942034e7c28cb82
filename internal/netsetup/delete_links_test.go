package netsetup

import (
	"fmt"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/ipipd/ipipd/internal/lab"
	"github.com/ipipd/ipipd/tun"
)

// DeleteLinks deletes the devices it is given, whatever group they were
// in, leaves every other device, a device already in a group among them,
// and is faster than closing the TUN descriptors one by one, which is how
// the kernel otherwise deletes them.
func TestDeleteLinksDeletesThoseGivenInOneRequest(t *testing.T) {
	lab.EnterFresh(t)
	const devices = 60
	open := func(prefix string) ([]int, []tun.Device) {
		var indexes []int
		var devs []tun.Device
		for i := range devices {
			link, dev := addDevice(t, fmt.Sprintf("%s%d", prefix, i), 1500)
			indexes = append(indexes, link.Attrs().Index)
			devs = append(devs, dev)
		}
		return indexes, devs
	}
	addDevice(t, "keep0", 1500)
	grouped, _ := addDevice(t, "keep1", 1500)
	if err := netlink.LinkSetGroup(grouped, 7); err != nil {
		t.Fatal(err)
	}

	indexes, devs := open("del")
	start := time.Now()
	if err := DeleteLinks(indexes); err != nil {
		t.Fatalf("DeleteLinks: %v", err)
	}
	inOne := time.Since(start)
	for _, d := range devs {
		d.Close()
	}
	for _, index := range indexes {
		if l, err := netlink.LinkByIndex(index); err == nil {
			t.Errorf("device %s (%d) still there", l.Attrs().Name, index)
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
	if err := DeleteLinks(nil); err != nil {
		t.Errorf("DeleteLinks(nil) = %v", err)
	}
}

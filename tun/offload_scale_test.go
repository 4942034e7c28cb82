package tun

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/ipipd/ipipd/internal/lab"
	"github.com/ipipd/ipipd/internal/packettest"
)

// TestOffloadStartsNothingPerDevice opens many offload devices and checks
// that none starts a goroutine: the daemon holds one device per tunnel,
// and wireguard's CreateTUN would give each a netlink listener blocked in
// recvmsg, an OS thread apiece. Closing them deletes the devices.
func TestOffloadStartsNothingPerDevice(t *testing.T) {
	lab.EnterFresh(t)
	const devices = 32
	before := runtime.NumGoroutine()
	var opened []Device
	defer func() {
		for _, d := range opened {
			d.Close()
		}
	}()
	for i := range devices {
		d, err := OpenOffload(fmt.Sprintf("scale%d", i), testMTU)
		if err != nil {
			t.Fatal(err)
		}
		opened = append(opened, d)
	}
	// A few goroutines of the test framework or the runtime may come and
	// go; one per device may not.
	if after := runtime.NumGoroutine(); after-before >= devices/2 {
		t.Errorf("%d goroutines after opening %d offload devices, %d before: the devices run something each", after, devices, before)
	}
	for _, d := range opened {
		if err := d.Close(); err != nil {
			t.Errorf("Close %s: %v", d.Name(), err)
		}
		if _, ok := deviceIndex(d.Name()); ok {
			t.Errorf("%s still exists after Close", d.Name())
		}
	}
	opened = nil
}

// TestOffloadIdleDeviceCostsLittle opens offload devices and checks that
// an idle one holds little heap: wireguard's GRO tables and read buffer
// (about 1.9 MiB a device) come with the first Read or Write, so a node of
// thousands of tunnels pays them only for those that carry packets. One
// device that writes then gets them, and still works.
func TestOffloadIdleDeviceCostsLittle(t *testing.T) {
	lab.EnterFresh(t)
	const devices = 32
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	var opened []Device
	defer func() {
		for _, d := range opened {
			d.Close()
		}
	}()
	for i := range devices {
		d, err := OpenOffload(fmt.Sprintf("idle%d", i), testMTU)
		if err != nil {
			t.Fatal(err)
		}
		opened = append(opened, d)
	}
	idle := heap()
	perDevice := (int64(idle) - int64(before)) / devices
	t.Logf("heap per idle offload device: %d bytes", perDevice)
	if perDevice > 64<<10 {
		t.Errorf("an idle offload device holds %d bytes of heap; want under 64 KiB (wireguard's tables made at open take about 1.9 MiB)", perDevice)
	}
	d := opened[0].(*offloadDevice)
	if d.wg.Load() != nil {
		t.Fatal("wireguard's device was made before any Read or Write")
	}
	configureTestDevice(t, d.Name())
	pkt := make([]byte, OffloadWriteHeadroom, 2048)
	ip := packettest.IP{Src: netip.MustParseAddr("10.245.99.1"), Dst: netip.MustParseAddr("10.245.99.2")}
	pkt = append(pkt[:OffloadWriteHeadroom], ip.UDP(40000, 9, []byte("x"))...)
	if _, err := d.Write([][]byte{pkt}, OffloadWriteHeadroom); err != nil {
		t.Fatalf("first Write: %v", err)
	}
	if d.wg.Load() == nil {
		t.Fatal("no wireguard device after a Write")
	}
	t.Logf("heap after the first Write: %+d bytes", int64(heap())-int64(idle))
}

// A device deleted before its first Read (ip link del, or ipipd deleting
// many in one request) reads as closed, as one deleted later does: the
// transmit loop then ends instead of retrying.
func TestOffloadDeletedBeforeFirstReadReadsClosed(t *testing.T) {
	lab.EnterFresh(t)
	d, err := OpenOffload("gone0", testMTU)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	link, err := netlink.LinkByName("gone0")
	if err == nil {
		err = netlink.LinkDel(link)
	}
	if err != nil {
		t.Fatalf("ip link del gone0: %v", err)
	}
	bufs, sizes := newBatch(d.BatchSize())
	_, err = d.Read(bufs, sizes, OffloadWriteHeadroom)
	if !IsClosed(err) {
		t.Errorf("Read of a deleted device = %v, want a closed error", err)
	}
}

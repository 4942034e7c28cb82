package tun

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/ipipd/ipipd/internal/lab"
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

package tun

import (
	"net"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ipipd/ipipd/internal/lab"
)

// OpenOffload leaves the device as netsetup expects to find it: down,
// without addresses, with the MTU asked for, and with the virtio-net header
// that carries the offloads.
func TestOpenOffloadCreatesADownDeviceWithOffloads(t *testing.T) {
	lab.EnterFresh(t)
	const mtu = 1400 // not the TUN default, to see that it was set
	dev, err := OpenOffload(testDevice, mtu)
	if err != nil {
		t.Fatalf("OpenOffload: %v", err)
	}
	defer dev.Close()
	if dev.Name() != testDevice {
		t.Errorf("Name() = %q, want %q", dev.Name(), testDevice)
	}
	if got := dev.BatchSize(); got != 128 {
		t.Errorf("BatchSize() = %d, want wireguard's 128", got)
	}
	link, err := netlink.LinkByName(testDevice)
	if err != nil {
		t.Fatalf("find %s: %v", testDevice, err)
	}
	if link.Attrs().Flags&net.FlagUp != 0 {
		t.Errorf("%s is up after OpenOffload; netsetup brings it up", testDevice)
	}
	if got := link.Attrs().MTU; got != mtu {
		t.Errorf("MTU = %d, want %d", got, mtu)
	}
	// The flags come from the descriptor (TUNGETIFF): /sys/class/net shows
	// the host's namespace, not this one.
	flags := tunFlags(t, dev.(*offloadDevice))
	want := uint16(unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if flags&want != want {
		t.Errorf("TUN flags = %#x, want %#x set", flags, want)
	}
}

// tunFlags asks the kernel for the flags of d's descriptor. It goes through
// SyscallConn, not File().Fd(), which would make the descriptor blocking.
func tunFlags(t *testing.T, d *offloadDevice) uint16 {
	t.Helper()
	raw, err := d.file.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	ifr, err := unix.NewIfreq(d.name)
	if err != nil {
		t.Fatal(err)
	}
	var ioctlErr error
	if err := raw.Control(func(fd uintptr) { ioctlErr = unix.IoctlIfreq(int(fd), unix.TUNGETIFF, ifr) }); err != nil {
		t.Fatal(err)
	}
	if ioctlErr != nil {
		t.Fatalf("TUNGETIFF: %v", ioctlErr)
	}
	return ifr.Uint16()
}

// OpenOffload refuses what wireguard would fail on late or leak on.
func TestOpenOffloadRefuses(t *testing.T) {
	lab.EnterFresh(t)
	tests := []struct {
		name    string
		device  string
		mtu     int
		wantErr string
	}{
		{"taken name", "lo", testMTU, "already exists"},
		{"template name", "tun%d", testMTU, "contains '%'"},
		{"MTU too small", testDevice, 67, "68 to 65535"},
		{"MTU too big", testDevice, 65536, "68 to 65535"},
	}
	for _, tt := range tests {
		dev, err := OpenOffload(tt.device, tt.mtu)
		if err == nil {
			dev.Close()
			t.Errorf("%s: OpenOffload(%q, %d) succeeded, want an error", tt.name, tt.device, tt.mtu)
			continue
		}
		if !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: error %q, want it to contain %q", tt.name, err, tt.wantErr)
		}
	}
	if _, err := netlink.LinkByName(testDevice); err == nil {
		t.Errorf("a refused OpenOffload left %s behind", testDevice)
	}
}

// Packets refused on their own (an offset with no room for the virtio-net
// header, an empty packet, one the kernel refuses) do not stop the batch,
// and the count leaves exactly them out.
func TestOffloadWriteCarriesOnAfterRefusedPackets(t *testing.T) {
	dev := offloadBackend.open(t)
	payload := []byte("batch")
	notIP := packetAt(make([]byte, 40)) // version 0: the kernel says EINVAL
	empty := packetAt(nil)              // nothing after the offset
	batch := [][]byte{
		packetAt(echoRequest(t, 1, payload)),
		notIP,
		empty,
		packetAt(echoRequest(t, 2, payload)),
	}

	n, err := dev.Write(batch, testOffset)
	if n != 2 {
		t.Errorf("Write wrote %d packets, want 2 (all but the refused ones)", n)
	}
	if err == nil || !strings.Contains(err.Error(), "packet 2:") || !strings.Contains(err.Error(), "refused 1 of 3") {
		t.Errorf("Write error = %v, want one naming packet 2 and one refused write", err)
	}
	if IsClosed(err) {
		t.Errorf("IsClosed(%v) = true for refused packets", err)
	}
	readOneMatching(t, dev, func(pkt []byte) bool { return isEchoReply(pkt, 1, payload) })
	readOneMatching(t, dev, func(pkt []byte) bool { return isEchoReply(pkt, 2, payload) })

	// An offset below the virtio-net header refuses each packet, never the
	// device.
	n, err = dev.Write([][]byte{packetAt(echoRequest(t, 3, payload))}, OffloadWriteHeadroom-1)
	if n != 0 || err == nil || IsClosed(err) || !strings.Contains(err.Error(), "needs 10 <= offset") {
		t.Errorf("Write at offset %d = %d, %v; want 0 and an error saying the offset needed", OffloadWriteHeadroom-1, n, err)
	}
}

// Read refuses, without blocking, a batch wireguard could overrun.
func TestOffloadReadRejectsUnusableBatches(t *testing.T) {
	dev := offloadBackend.open(t)
	bufs, sizes := newBatch(2)
	short := [][]byte{bufs[0], make([]byte, testOffset+testMTU)}
	checkReadRefuses(t, dev, []unusableRead{
		{"no buffers", nil, sizes, 0},
		{"fewer sizes than buffers", bufs, sizes[:1], 0},
		{"negative offset", bufs, sizes, -1},
		{"offset eats the room", bufs, sizes, testOffset + 1},
		{"a buffer of one MTU", short, sizes, testOffset},
	})
}

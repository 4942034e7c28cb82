package tun

import (
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
	wgtun "golang.zx2c4.com/wireguard/tun"
)

// wireguardDevice is wireguard's side of an offload device: the GSO split
// on Read and the GRO on Write, over a duplicate of the device's
// descriptor.
type wireguardDevice struct {
	dev wgtun.Device
}

// wireguard returns wireguard's device, making it on first use. Until then
// the device costs its descriptor alone: wireguard allocates, per device, a
// 64 KiB read buffer and TCP and UDP GRO tables of 128 × 128 items (about
// 1.9 MiB in all; 5.5 GB of heap at 3 000 tunnels when it was made at
// open), and a tunnel that never carries a packet needs none of it.
//
// It works on a duplicate of the descriptor, so that closing it never
// deletes the device, which lives as long as d.file: CreateUnmonitoredTUNFromFD,
// not CreateTUN, which would start two goroutines per device watching its
// link state, one blocked in recvmsg on a netlink socket of its own (10 000
// tunnels: 10 000 threads, each woken by every link change); the daemon
// follows its devices with one watcher (package kernelview) instead.
func (d *offloadDevice) wireguard(op string) (wgtun.Device, error) {
	if wg := d.wg.Load(); wg != nil {
		return wg.dev, nil
	}
	d.lazyMu.Lock()
	defer d.lazyMu.Unlock()
	if wg := d.wg.Load(); wg != nil {
		return wg.dev, nil
	}
	if d.closed.Load() {
		return nil, d.closedError(op)
	}
	wg, err := d.openWireguard()
	if errors.Is(err, syscall.EBADFD) {
		// The device was deleted (ip link del, or ipipd deleting many at
		// once) before its first Read or Write: say so as Read would.
		return nil, d.ioError(op, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, d.name, err)
	}
	d.wg.Store(wg)
	return wg.dev, nil
}

// openWireguard makes wireguard's device over a duplicate of the
// descriptor. Called with lazyMu held.
func (d *offloadDevice) openWireguard() (*wireguardDevice, error) {
	dup, dupErr, ifErr := -1, error(nil), error(nil)
	if err := d.readiness.conn.Control(func(fd uintptr) {
		// A deleted device's descriptor answers EBADFD: asked first, so
		// that no duplicate is handed to wireguard only to be refused
		// (it would then stay open until a finalizer closed it).
		ifErr = checkAttached(int(fd), d.name)
		if ifErr == nil {
			dup, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
		}
	}); err != nil {
		return nil, d.ioError("dup", err)
	}
	if ifErr != nil {
		return nil, ifErr
	}
	if dupErr != nil {
		return nil, fmt.Errorf("a descriptor for wireguard's offloads: %w", dupErr)
	}
	dev, _, err := wgtun.CreateUnmonitoredTUNFromFD(dup)
	if err != nil {
		// The duplicate now belongs to an os.File we never got: its
		// finalizer closes it. Closing the number here could close a
		// descriptor reused meanwhile. The device lives on through d.file.
		return nil, fmt.Errorf("wireguard's offloads: %w", err)
	}
	if dev.BatchSize() != conn.IdealBatchSize {
		dev.Close()
		return nil, fmt.Errorf("wireguard's batch is %d packets, not the %d BatchSize promised", dev.BatchSize(), conn.IdealBatchSize)
	}
	// wireguard sets the offloads it wants (TSO and USO); a reader that
	// asked for fewer (NewGSOReader) keeps them.
	if err := d.applyOffloads(d.offloads); err != nil {
		dev.Close()
		return nil, err
	}
	d.writeBatch = make([][]byte, 0, conn.IdealBatchSize)
	return &wireguardDevice{dev: dev}, nil
}

// setOffloads changes the offloads the device runs with (TUNSETOFFLOAD
// flags), now and after wireguard's device is made.
func (d *offloadDevice) setOffloads(flags int) error {
	d.lazyMu.Lock()
	defer d.lazyMu.Unlock()
	if flags == d.offloads {
		return nil
	}
	if err := d.applyOffloads(flags); err != nil {
		return err
	}
	d.offloads = flags
	return nil
}

func (d *offloadDevice) applyOffloads(flags int) error {
	var ioctlErr error
	if err := d.readiness.conn.Control(func(fd uintptr) {
		ioctlErr = unix.IoctlSetInt(int(fd), unix.TUNSETOFFLOAD, flags)
	}); err != nil {
		return d.ioError("set offloads", err)
	}
	if ioctlErr != nil {
		return fmt.Errorf("TUN device %s: setting its offloads to %#x: %w", d.name, flags, ioctlErr)
	}
	return nil
}

// checkAttached asks the kernel for the flags of the device behind fd
// (TUNGETIFF), which fails with EBADFD once the device is deleted.
func checkAttached(fd int, name string) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.TUNGETIFF, ifr); err != nil {
		return fmt.Errorf("TUNGETIFF: %w", err)
	}
	return nil
}

package tun

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
)

// The offload backend's needs, from golang.zx2c4.com/wireguard/tun
// (tun_linux.go, offload_linux.go). The datapath's buffers (offset 20, 20+65535
// bytes each) meet both.
const (
	// OffloadWriteHeadroom is the least offset Write accepts on an offload
	// device: wireguard writes a 10-byte virtio-net header (struct
	// virtio_net_hdr, which tells the kernel how to segment a coalesced
	// packet) into bufs[i][offset-10:offset] and hands the kernel the bytes
	// from there.
	OffloadWriteHeadroom = 10

	// OffloadReadRoom is the least room, len(bufs[i])-offset, that Read
	// needs in every buffer of the batch: the largest IPv4 packet. wireguard
	// splits a GSO super-packet into the buffers without checking their
	// length (a short buffer panics or is checksummed past its end), so Read
	// refuses a batch that could not take any packet the kernel may send.
	OffloadReadRoom = 65535

	// minTUNMTU and maxTUNMTU are the kernel's limits for a TUN device
	// (drivers/net/tun.c: MIN_MTU, MAX_MTU), checked first so that the error
	// says the range rather than the ioctl's bare EINVAL.
	minTUNMTU = 68
	maxTUNMTU = 65535
)

var _ Device = (*offloadDevice)(nil)

// offloadDevice is a TUN device opened with IFF_VNET_HDR and kernel offloads
// (TSO, USO, checksum) through wireguard-go's tun package. The kernel hands
// it GSO super-packets of up to 64 KiB, split into MTU-sized packets on Read,
// and Write coalesces segments of a TCP or UDP flow into super-packets (GRO),
// so one system call moves many packets.
//
// wireguard's part is made at the first Read or Write (see wireguard), not
// at open: its GRO tables and read buffer take about 1.9 MiB per device,
// which a node of 10 000 tunnels, most of them idle, should not pay for
// tunnels that carry nothing.
type offloadDevice struct {
	// file is the device's own descriptor, under the Go runtime's poller:
	// it keeps the device alive, answers Waiter, and carries GSO reads and
	// writes. wireguard's device works on a duplicate of it.
	file *os.File
	name string
	readiness

	// wg is wireguard's device once made; lazyMu orders its making with
	// Close and with changes of offloads, which it must carry over.
	wg       atomic.Pointer[wireguardDevice]
	lazyMu   sync.Mutex
	offloads int // TUNSETOFFLOAD flags the device runs with

	// closed is set before anything is closed, so that any error a Read or
	// Write sees from then on is reported as closed.
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	// writeMu orders writes, and guards writeBatch, the batch handed to
	// wireguard: a copy of the caller's slice headers, because wireguard's
	// GRO grows and swaps the elements of the slice it is given.
	writeMu    sync.Mutex
	writeBatch [][]byte
}

// OpenOffload creates the TUN device name (IFF_TUN|IFF_NO_PI|IFF_VNET_HDR,
// not persistent) in the network namespace of the calling OS thread, enables
// the kernel's checksum, TSO and (Linux 6.2 and later) USO offloads on it
// (TUNSETOFFLOAD), sets its MTU to mtu and returns it, down and without
// addresses; package netsetup configures it (setting the same MTU again is
// harmless). The kernel deletes the device on Close. Nothing runs in the
// background: a device costs its descriptor and, from its first Read or
// Write on, wireguard's per-device buffers (about 1.9 MiB of heap, resident
// as its traffic touches them); no goroutine and no OS thread, so a daemon
// of 10 000 tunnels does not hold 10 000 threads.
//
// The Device contract holds with two differences, both from wireguard's GRO:
//
//   - Write needs offset >= OffloadWriteHeadroom, and it changes the bytes of
//     the batch: the OffloadWriteHeadroom bytes in front of each packet (the
//     virtio-net header), and, for packets it coalesces, the first packet's
//     IPv4 total length, header checksum, TCP PSH flag and transport checksum
//     (replaced by the pseudo-header sum the kernel completes), with later
//     packets' payloads appended after it, in its spare capacity
//     (cap(bufs[i]) beyond len(bufs[i]); it never allocates). The capacity of
//     each buffer must therefore belong to that packet alone: limit it with a
//     full slice expression when packets share an array. Treat the buffers'
//     contents as garbage after Write; the bufs slice itself is left alone.
//   - Read needs len(bufs[i])-offset >= OffloadReadRoom for every i. Give it
//     BatchSize() buffers: a super-packet with more segments than buffers
//     loses the rest, which Read reports with an error that is not a closed
//     one. 128 holds any super-packet the kernel sends at an MTU of 576 or
//     more (64 KiB of TCP in segments of at least 536 bytes; the kernel cuts
//     UDP at 128 segments).
//
// Like OpenWater, OpenOffload refuses a name that any network device already
// has.
func OpenOffload(name string, mtu int) (Device, error) {
	return openOffload(name, mtu, true)
}

// OpenGSO is OpenOffload for a device that NewGSOReader will read: it
// sets the offloads the reader takes (checksum and TSO; a UDP super-packet
// it cannot hand over, so the kernel cuts those before the TUN) at once,
// and NewGSOReader has nothing to change. Each change is a feature update
// under the RTNL lock and a link notification to every listener: 10 000
// of each at a start of 10 000 tunnels.
func OpenGSO(name string, mtu int) (Device, error) {
	return openOffload(name, mtu, false)
}

func openOffload(name string, mtu int, uso bool) (Device, error) {
	if err := CheckName(name); err != nil {
		return nil, fmt.Errorf("open TUN device: %w", err)
	}
	if mtu < minTUNMTU || mtu > maxTUNMTU {
		return nil, fmt.Errorf("open TUN device %s: MTU %d is outside the kernel's range for a TUN device, %d to %d", name, mtu, minTUNMTU, maxTUNMTU)
	}
	// Checked here, not left to the kernel: the kernel's answer to a taken
	// name is a bare EINVAL or EBUSY.
	if index, ok := deviceIndex(name); ok {
		return nil, nameTakenError(name, index)
	}
	fd, err := createTUN(name, mtu)
	if err != nil {
		return nil, err
	}
	// Offloads as wireguard sets them (initFromFlags): checksum and TSO,
	// and USO where the kernel has it (6.2 and later); or, for OpenGSO,
	// what the GSO reader takes.
	offloads := unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6
	if uso && unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, offloads|unix.TUN_F_USO4|unix.TUN_F_USO6) == nil {
		offloads |= unix.TUN_F_USO4 | unix.TUN_F_USO6
	} else if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, offloads); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("open TUN device %s with offloads: TUNSETOFFLOAD: %w", name, err)
	}
	// Non-blocking before os.NewFile, which then puts it under the Go
	// runtime's poller: Close wakes a blocked Read.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("open TUN device %s: %w", name, err)
	}
	file := os.NewFile(uintptr(fd), "/dev/net/tun")
	ready, err := newReadiness(file, name)
	if err != nil {
		file.Close()
		return nil, err
	}
	return &offloadDevice{file: file, name: name, readiness: ready, offloads: offloads}, nil
}

// createTUN creates the device (IFF_TUN|IFF_NO_PI|IFF_VNET_HDR) with its MTU
// and returns its descriptor, blocking still. On error nothing
// is left: the descriptor is closed, and with it the device.
func createTUN(name string, mtu int) (int, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open TUN device %s: /dev/net/tun: %w", name, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err == nil {
		// IFF_VNET_HDR: every read and write carries a virtio-net header,
		// which is what lets the kernel hand over GSO super-packets.
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
		err = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
	}
	if err == nil {
		err = setDeviceMTU(name, mtu)
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("open TUN device %s with offloads: %w", name, err)
	}
	return fd, nil
}

// BatchSize is wireguard's: 128 (conn.IdealBatchSize) with the virtio-net
// header, the most segments a Read returns and the most packets one GRO pass
// of Write takes. It is asked before wireguard's device is made; wireguard
// confirms it then.
func (d *offloadDevice) BatchSize() int { return conn.IdealBatchSize }

// Name is the device's kernel name, as read when it was opened.
func (d *offloadDevice) Name() string { return d.name }

// Close closes the device, which deletes it and wakes a pending Read with an
// error wrapping os.ErrClosed. Later calls return what the first returned.
func (d *offloadDevice) Close() error {
	d.closeOnce.Do(func() {
		d.closed.Store(true)
		d.lazyMu.Lock()
		defer d.lazyMu.Unlock()
		var errs []error
		if wg := d.wg.Load(); wg != nil {
			errs = append(errs, wg.dev.Close())
		}
		// The device is deleted when its last descriptor is closed: ours.
		errs = append(errs, d.file.Close())
		if err := errors.Join(errs...); err != nil {
			d.closeErr = fmt.Errorf("close %s: %w", d.name, err)
		}
	})
	return d.closeErr
}

// closedError is the error of a Read or Write after Close.
func (d *offloadDevice) closedError(op string) error {
	return fmt.Errorf("%s %s: %w", op, d.name, os.ErrClosed)
}

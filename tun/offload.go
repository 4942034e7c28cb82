package tun

import (
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"

	wgtun "golang.zx2c4.com/wireguard/tun"
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
	// (drivers/net/tun.c: MIN_MTU, MAX_MTU). A failed MTU ioctl inside
	// wireguard's CreateTUN leaks the open device and its goroutines, so
	// OpenOffload checks the range first.
	minTUNMTU = 68
	maxTUNMTU = 65535
)

var _ Device = (*offloadDevice)(nil)

// offloadDevice is a TUN device opened with IFF_VNET_HDR and kernel offloads
// (TSO, USO, checksum) through wireguard-go's tun package. The kernel hands
// it GSO super-packets of up to 64 KiB, split into MTU-sized packets on Read,
// and Write coalesces segments of a TCP or UDP flow into super-packets (GRO),
// so one system call moves many packets.
type offloadDevice struct {
	dev  wgtun.Device
	name string

	// closed is set before the wireguard device is closed, so that any
	// error a Read or Write sees from then on is reported as closed.
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
	// eventsDone is closed when the goroutine draining wireguard's Events
	// channel ends, which is when wireguard's monitor goroutines have ended.
	eventsDone chan struct{}

	// writeMu guards writeBatch, the batch handed to wireguard: a copy of
	// the caller's slice headers, because wireguard's GRO grows and swaps
	// the elements of the slice it is given.
	writeMu    sync.Mutex
	writeBatch [][]byte
}

// OpenOffload creates the TUN device name (IFF_TUN|IFF_NO_PI|IFF_VNET_HDR,
// not persistent) in the network namespace of the calling OS thread, enables
// the kernel's checksum, TSO and (Linux 6.2 and later) USO offloads on it
// (TUNSETOFFLOAD), sets its MTU to mtu and returns it, down and without
// addresses; package netsetup configures it (setting the same MTU again is
// harmless). The kernel deletes the device on Close.
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
	if err := CheckName(name); err != nil {
		return nil, fmt.Errorf("open TUN device: %w", err)
	}
	if mtu < minTUNMTU || mtu > maxTUNMTU {
		return nil, fmt.Errorf("open TUN device %s: MTU %d is outside the kernel's range for a TUN device, %d to %d", name, mtu, minTUNMTU, maxTUNMTU)
	}
	// Checked here, not left to the kernel: wireguard leaks the descriptor
	// when TUNSETIFF fails, and the kernel's answer is a bare EINVAL or EBUSY.
	if existing, err := net.InterfaceByName(name); err == nil {
		return nil, nameTakenError(name, existing.Index)
	}
	// CreateTUN opens /dev/net/tun non-blocking under the Go runtime's
	// poller (Close wakes a blocked Read), sets the MTU with SIOCSIFMTU and
	// starts two goroutines that watch the link and feed Events. It does not
	// bring the device up.
	dev, err := wgtun.CreateTUN(name, mtu)
	if err != nil {
		return nil, fmt.Errorf("open TUN device %s with offloads: %w", name, err)
	}
	// The name is read once here; wireguard's Name() returns an error too,
	// and the datapath wants a plain string.
	kernelName, err := dev.Name()
	if err != nil {
		dev.Close()
		return nil, fmt.Errorf("open TUN device %s: reading its name back: %w", name, err)
	}
	d := &offloadDevice{
		dev:        dev,
		name:       kernelName,
		eventsDone: make(chan struct{}),
		writeBatch: make([][]byte, 0, dev.BatchSize()),
	}
	go d.drainEvents()
	return d, nil
}

// drainEvents discards wireguard's link events (up, down, MTU changes; the
// daemon learns those from netlink itself). wireguard sends them on a small
// buffered channel and its monitor goroutines block when it is full, so
// someone must read it. The channel is closed by the device's Close.
func (d *offloadDevice) drainEvents() {
	defer close(d.eventsDone)
	for range d.dev.Events() {
	}
}

// BatchSize is wireguard's: 128 (conn.IdealBatchSize) with the virtio-net
// header, the most segments a Read returns and the most packets one GRO pass
// of Write takes.
func (d *offloadDevice) BatchSize() int { return d.dev.BatchSize() }

// Name is the device's kernel name, as read when it was opened.
func (d *offloadDevice) Name() string { return d.name }

// Close closes the device, which deletes it and wakes a pending Read with an
// error wrapping os.ErrClosed, and waits until wireguard's monitor goroutines
// have ended (they end at once: their sockets are cancelled, not timed out).
// Later calls return what the first returned.
func (d *offloadDevice) Close() error {
	d.closeOnce.Do(func() {
		d.closed.Store(true)
		if err := d.dev.Close(); err != nil {
			d.closeErr = fmt.Errorf("close %s: %w", d.name, err)
		}
		<-d.eventsDone
	})
	return d.closeErr
}

// closedError is the error of a Read or Write after Close.
func (d *offloadDevice) closedError(op string) error {
	return fmt.Errorf("%s %s: %w", op, d.name, os.ErrClosed)
}

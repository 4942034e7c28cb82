// Package tun moves IPv4 packets between the daemon and the kernel through TUN
// devices, in batches.
//
// The Device contract is wireguard-go's tun.Device (Read at an offset into a
// batch of buffers, Write a batch, BatchSize), so that backends differ only
// in how many packets a call moves. There are two:
//
//   - OpenWater: a plain TUN opened through github.com/songgao/water; a batch
//     of one, not a separate code path.
//   - OpenOffload: a TUN with the virtio-net header and the kernel's TSO, USO
//     and checksum offloads, through golang.zx2c4.com/wireguard/tun. A Read
//     returns the segments of a GSO super-packet of up to 64 KiB, and Write
//     coalesces segments of a TCP or UDP flow (GRO), up to 128 packets per
//     call. It needs OffloadWriteHeadroom bytes in front of each packet it
//     writes, OffloadReadRoom bytes in each buffer it reads into, and it
//     changes the buffers it writes, headroom included (see OpenOffload).
package tun

import (
	"errors"
	"os"
)

// Device is a TUN device that moves packets in batches.
//
// Buffers belong to the caller, and neither Read nor Write keeps a
// reference to one after it returns, so the caller may reuse them at once.
// Read fills bufs[i][offset:] and leaves bufs[i][:offset] alone (the room
// the caller keeps for an outer header built in place). Write sends
// bufs[i][offset:] but may use the headroom and change the packets: the
// offload backend writes a virtio-net header into the Headroom bytes before
// each packet and coalesces packets in place, so after Write the buffers'
// contents are undefined. Callers give Write an offset of at least
// WriteHeadroom.
//
// Read and Write may run at the same time from different goroutines. Calls of
// Read with Read, or of Write with Write, are allowed but serialize.
type Device interface {
	// Read reads one or more packets. Packet i is written to bufs[i][offset:]
	// and its length to sizes[i]. It returns the number of packets read and
	// blocks until there is at least one. Packets read before an error are
	// returned together with the error: handle the first n, then the error.
	//
	// len(sizes) must be at least len(bufs), and each bufs[i][offset:] should
	// hold the device MTU; the kernel cuts a longer packet to the buffer's
	// size without saying so.
	//
	// After Close, or once the device has been deleted from the kernel, Read
	// returns an error for which IsClosed is true.
	Read(bufs [][]byte, sizes []int, offset int) (n int, err error)

	// Write writes bufs[i][offset:] for every i and returns how many packets
	// the kernel accepted. A packet the kernel refuses (for example one that
	// is not IPv4 or IPv6) does not stop the batch: its error is joined into
	// err and Write carries on with the next. A closed or deleted device stops
	// the batch with an error for which IsClosed is true.
	Write(bufs [][]byte, offset int) (int, error)

	// BatchSize is the most packets one Read returns and the most one Write
	// should be given. Size batch buffers from it once, before the loop.
	BatchSize() int

	// Name is the kernel's name of the device, e.g. "tunl0".
	Name() string

	// Close releases the device; the kernel deletes a TUN device that is
	// not persistent when its last file descriptor closes, together with its
	// addresses and routes. Close unblocks a pending Read, which then returns
	// an error wrapping os.ErrClosed. Calling Close more than once is safe; later
	// calls return what the first returned.
	Close() error
}

// WriteHeadroom is the smallest offset every backend's Write accepts: room
// for the offload backend's virtio-net header.
const WriteHeadroom = OffloadWriteHeadroom

// IsClosed reports whether err means that the device is closed or gone, so
// that a read or write loop should stop rather than retry. Such errors wrap
// os.ErrClosed (not net.ErrClosed: a TUN device is a file, not a socket).
func IsClosed(err error) bool {
	return errors.Is(err, os.ErrClosed)
}

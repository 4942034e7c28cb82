package tun

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	wgtun "golang.zx2c4.com/wireguard/tun"
)

// Read reads one packet, or the segments of one GSO super-packet, into
// bufs[i][offset:]; see Device.Read and OpenOffload. Every buffer must have
// OffloadReadRoom bytes after offset, and len(sizes) >= len(bufs).
//
// wireguard reads the kernel's packet with its virtio-net header into a
// buffer of its own (one read(2) per call) and copies it out, cut into
// segments with fresh IPv4 and TCP/UDP headers and checksums. A super-packet
// with more segments than len(bufs) fills the batch and loses the rest (and,
// by an off-by-one in wireguard, the last segment that fitted): Read then
// returns the packets it kept with an error that is not a closed one; keep
// reading. A failure of wireguard's link monitor is also reported once by
// Read, as an error that is not a closed one, and reading goes on working.
func (d *offloadDevice) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if d.closed.Load() {
		return 0, d.closedError("read")
	}
	if err := d.checkReadBatch(bufs, sizes, offset); err != nil {
		return 0, err
	}
	wg, err := d.wireguard("read")
	if err != nil {
		return 0, err
	}
	n, err := wg.Read(bufs, sizes, offset)
	if err == nil {
		return n, nil
	}
	if errors.Is(err, wgtun.ErrTooManySegments) {
		return n, fmt.Errorf("read %s: a GSO super-packet had more segments than the %d buffers given; the rest of it was dropped: %w", d.name, len(bufs), err)
	}
	return n, d.ioError("read", err)
}

// ioError names the device in err and says why it is closed when it is:
//   - after Close, whatever wireguard reports (a Read may see its cancelled
//     link monitor, "netlink socket closed", rather than the descriptor)
//     wraps os.ErrClosed;
//   - the kernel's EBADFD is its answer on the descriptor of a deleted
//     device (ip link del): wireguard turns it into a bare os.ErrClosed,
//     and a write of our own (WriteTCPv4GSO) gets it as it is.
func (d *offloadDevice) ioError(op string, err error) error {
	switch {
	case d.closed.Load():
		return fmt.Errorf("%s %s: %w (%w)", op, d.name, os.ErrClosed, err)
	case err == os.ErrClosed || errors.Is(err, syscall.EBADFD): // identity: only EBADFD gives wireguard's bare value
		return fmt.Errorf("%s %s: the device was deleted: %w", op, d.name, os.ErrClosed)
	}
	return fmt.Errorf("%s %s: %w", op, d.name, err)
}

// checkReadBatch refuses a batch wireguard could overrun, without blocking.
func (d *offloadDevice) checkReadBatch(bufs [][]byte, sizes []int, offset int) error {
	if len(bufs) == 0 || len(sizes) < len(bufs) {
		return fmt.Errorf("read %s: got %d buffers and %d sizes; need at least one buffer and a size for each", d.name, len(bufs), len(sizes))
	}
	if offset < 0 {
		return fmt.Errorf("read %s: negative offset %d", d.name, offset)
	}
	for i, buf := range bufs {
		if len(buf)-offset < OffloadReadRoom {
			return fmt.Errorf("read %s: buffer %d of %d has %d bytes after offset %d; an offload device needs %d (OffloadReadRoom) in every buffer", d.name, i, len(bufs), len(buf)-offset, offset, OffloadReadRoom)
		}
	}
	return nil
}

// Write writes bufs[i][offset:] for every i, coalescing consecutive segments
// of a TCP or UDP flow into one super-packet per write(2); see Device.Write
// and OpenOffload for what it changes in the buffers. offset must be at least
// OffloadWriteHeadroom; a packet with a smaller offset, or empty, is refused
// on its own and the rest of the batch goes on.
//
// The count is exact when err is nil. When the kernel refuses some writes,
// wireguard says neither which packets they held nor how many, so Write
// counts each refused write as one packet; that is exact unless a refused
// write was a coalesced one. A closed or deleted device stops Write with a
// closed error, and the count may then leave out packets the kernel took
// just before.
func (d *offloadDevice) Write(bufs [][]byte, offset int) (int, error) {
	if d.closed.Load() {
		return 0, d.closedError("write")
	}
	wg, err := d.wireguard("write")
	if err != nil {
		return 0, err
	}
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	var errs error
	written := 0
	// wireguard's GRO tables have room for BatchSize flows and panic on the
	// next (an index of -1 into their pool), so a longer batch goes in parts.
	for first := 0; first < len(bufs); first += d.BatchSize() {
		part := bufs[first:min(len(bufs), first+d.BatchSize())]
		n, err := d.writePart(wg, part, offset, first)
		written += n
		if err != nil {
			errs = errors.Join(errs, err)
			if IsClosed(err) {
				break
			}
		}
	}
	return written, errs
}

// writePart writes at most BatchSize packets; first is the index of part[0]
// in the caller's batch, for error messages.
func (d *offloadDevice) writePart(wg wgtun.Device, part [][]byte, offset, first int) (int, error) {
	var errs error
	batch := d.writeBatch[:0]
	for i, buf := range part {
		if offset < OffloadWriteHeadroom || offset >= len(buf) {
			errs = errors.Join(errs, fmt.Errorf("write %s: packet %d: offset %d in a %d-byte buffer; an offload device needs %d <= offset < buffer length", d.name, first+i, offset, len(buf), OffloadWriteHeadroom))
			continue
		}
		batch = append(batch, buf)
	}
	if len(batch) == 0 {
		return 0, errs
	}
	// wireguard returns bytes, not packets, and joins one error per
	// refused write(2) into err.
	_, err := wg.Write(batch, offset)
	// Keep the grown capacity for the next call, but no reference to the
	// caller's buffers.
	clear(batch)
	d.writeBatch = batch[:0]
	if err == nil {
		return len(batch), errs
	}
	if d.closed.Load() || errors.Is(err, os.ErrClosed) {
		return 0, errors.Join(errs, d.ioError("write", err))
	}
	written := max(len(batch)-countJoined(err), 0)
	return written, errors.Join(errs, fmt.Errorf("write %s: the kernel refused %d of %d packets: %w", d.name, len(batch)-written, len(batch), err))
}

// countJoined counts the errors errors.Join put together in err. wireguard
// joins each refused write onto the errors before it, errors.Join(errs,
// err), which nests, so the count goes down the tree.
func countJoined(err error) int {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return 1
	}
	count := 0
	for _, e := range joined.Unwrap() {
		count += countJoined(e)
	}
	return count
}

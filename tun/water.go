package tun

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"github.com/songgao/water"
)

// waterBatchSize is the batch of a plain TUN file descriptor: one read(2) or
// write(2) moves one packet.
const waterBatchSize = 1

var _ Device = (*waterDevice)(nil)

// waterDevice is a plain TUN device (IFF_TUN|IFF_NO_PI, no offloads) opened
// through github.com/songgao/water. Every packet is one system call.
type waterDevice struct {
	ifce *water.Interface
	name string
	readiness

	closeOnce sync.Once
	closeErr  error
}

// OpenWater creates the TUN device name (IFF_TUN|IFF_NO_PI, not persistent)
// in the network namespace of the calling OS thread and returns it, down and
// without addresses; package netsetup configures it. The device exists while
// the returned Device is open and the kernel deletes it on Close.
//
// OpenWater refuses a name that is already taken by any network device
// rather than attach to it: the daemon owns the devices it creates, and a
// leftover device of the same name (for example the kernel ipip module's
// tunl0) would otherwise fail with a bare "invalid argument" or, for a
// persistent TUN, be taken over.
func OpenWater(name string) (Device, error) {
	if err := CheckName(name); err != nil {
		return nil, fmt.Errorf("open TUN device: %w", err)
	}
	if index, ok := deviceIndex(name); ok {
		return nil, nameTakenError(name, index)
	}
	// water opens /dev/net/tun with O_NONBLOCK and wraps it with os.NewFile,
	// which registers it with the Go runtime's poller: a blocked Read parks
	// the goroutine, not a thread, and Close wakes it with os.ErrClosed.
	ifce, err := water.New(water.Config{
		DeviceType: water.TUN,
		PlatformSpecificParams: water.PlatformSpecificParams{
			Name:    name,
			Persist: false,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("open TUN device %s: %w", name, err)
	}
	ready, err := newReadiness(ifce.ReadWriteCloser, ifce.Name())
	if err != nil {
		ifce.Close()
		return nil, err
	}
	return &waterDevice{ifce: ifce, name: ifce.Name(), readiness: ready}, nil
}

// Read reads one packet into bufs[0][offset:]; see Device.Read.
func (d *waterDevice) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(bufs) == 0 || len(sizes) == 0 {
		return 0, fmt.Errorf("read %s: got %d buffers and %d sizes; need at least one of each", d.name, len(bufs), len(sizes))
	}
	if offset < 0 || offset >= len(bufs[0]) {
		return 0, fmt.Errorf("read %s: offset %d leaves no room in a %d-byte buffer; need 0 <= offset < buffer length", d.name, offset, len(bufs[0]))
	}
	n, err := d.ifce.Read(bufs[0][offset:])
	if n > 0 {
		sizes[0] = n
		if err != nil {
			return 1, d.ioError("read", err)
		}
		return 1, nil
	}
	if err == nil {
		// read(2) on a TUN never returns 0 bytes; os.File turns 0 into
		// io.EOF, so this is unreachable, but never report 0 packets
		// without an error.
		err = syscall.EIO
	}
	return 0, d.ioError("read", err)
}

// Write writes bufs[i][offset:] for every i; see Device.Write.
func (d *waterDevice) Write(bufs [][]byte, offset int) (int, error) {
	var errs error
	written := 0
	for i, buf := range bufs {
		if offset < 0 || offset > len(buf) {
			errs = errors.Join(errs, fmt.Errorf("write %s: packet %d of %d: offset %d is outside its %d-byte buffer", d.name, i, len(bufs), offset, len(buf)))
			continue
		}
		if _, err := d.ifce.Write(buf[offset:]); err != nil {
			err = d.ioError("write", err)
			if IsClosed(err) {
				return written, errors.Join(errs, err)
			}
			errs = errors.Join(errs, fmt.Errorf("packet %d of %d: %w", i, len(bufs), err))
			continue
		}
		written++
	}
	return written, errs
}

// ioError names the device in err and makes a deleted device look closed:
// once the interface is removed (ip link del), the kernel answers every read
// and write on the still-open descriptor with EBADFD, and retrying is
// pointless.
func (d *waterDevice) ioError(op string, err error) error {
	if errors.Is(err, syscall.EBADFD) {
		return fmt.Errorf("%s %s: the device was deleted: %w (%w)", op, d.name, os.ErrClosed, err)
	}
	return fmt.Errorf("%s %s: %w", op, d.name, err)
}

// BatchSize is 1: a plain TUN moves one packet per system call.
func (d *waterDevice) BatchSize() int { return waterBatchSize }

// Name is the device's kernel name.
func (d *waterDevice) Name() string { return d.name }

// Close closes the file descriptor, which deletes the device and wakes a
// pending Read with os.ErrClosed.
func (d *waterDevice) Close() error {
	d.closeOnce.Do(func() {
		if err := d.ifce.Close(); err != nil {
			d.closeErr = fmt.Errorf("close %s: %w", d.name, err)
		}
	})
	return d.closeErr
}

package kernelview

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"syscall"

	"github.com/ipipd/ipipd/internal/nldump"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Reading one device rather than every table. A reload that adds a tunnel
// to 10 000 changes the watched set, and a device that comes up may have
// multipath next hops the kernel revived without a word; reading all
// links, addresses and 100 000 routes again for either took 0.6-0.9 s.
// The kernel filters these dumps by device (package nldump).

// manyNew is how many newly watched devices are read one by one; past it
// one read of everything costs less than the requests.
var manyNew = 64 // a variable so that a test can read everything instead

// rewatch follows the set of devices the last Watch named: the devices no
// longer watched are forgotten and the new ones read, one by one when
// they are few, else with everything. It reports whether the set changed.
func (f *follower) rewatch() bool {
	old := f.watched
	if !f.watchedSetChanged() {
		return false
	}
	var added []int
	for index := range f.watched {
		if _, had := old[index]; !had {
			added = append(added, index)
		}
	}
	// The first set is read whole: the View's local table holds every
	// device's addresses, not only the watched devices'.
	if len(added) > manyNew || !f.readEverything {
		f.readAll()
		return true
	}
	// The next View rebuilds the routes of the devices that came, went or
	// changed table, and shares the others' slices, so that the engine
	// finds their routes unchanged too.
	for index, table := range old {
		if now, still := f.watched[index]; !still {
			delete(f.links, index)
			delete(f.addresses, index)
			f.routes.dropDevice(index)
			f.routes.dirty[index] = struct{}{}
		} else if now != table {
			f.routes.dirty[index] = struct{}{}
		}
	}
	for _, index := range added {
		f.routes.dirty[index] = struct{}{}
	}
	f.watchedChanged = false
	if removed := len(old) - (len(f.watched) - len(added)); removed > len(old)/2 {
		f.compact()
	}
	for _, index := range added {
		if err := f.readDevice(index); err != nil {
			f.w.log.Error("reading a newly watched device failed; reading the kernel's links, addresses and routes instead", "ifindex", index, "err", err)
			f.readAll()
			return true
		}
	}
	return true
}

// readDevice reads one newly watched device's link, addresses and routes.
// A device already gone is left out, as readAll leaves it.
func (f *follower) readDevice(index int) error {
	nl, err := f.h.LinkByIndex(index)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if errors.As(err, &notFound) {
			return nil
		}
		return err
	}
	f.links[index] = linkOf(nl)
	var addresses []netip.Prefix
	err = f.dump(nldump.AddressesOf(index), unix.RTM_NEWADDR, func(m *syscall.NetlinkMessage) error {
		u, err := nldump.DecodeAddress(m)
		if err != nil || !u.NewAddr || u.LinkIndex != index {
			return err
		}
		if p, ok := prefixOf(&u.LinkAddress); ok && !slices.Contains(addresses, p) {
			addresses = append(addresses, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if addresses != nil {
		f.addresses[index] = addresses
	} else {
		delete(f.addresses, index)
	}
	return f.readDeviceRoutes(index)
}

// readDeviceRoutes reads the routes with a next hop through device index,
// in every table, into what the follower holds: after the device came up
// (fib_sync_up revives a multipath route's next hops through it and sends
// no RTM_NEWROUTE), or when it is newly watched. Routes with next hops
// through other devices are read whole.
func (f *follower) readDeviceRoutes(index int) error {
	return f.dump(nldump.RoutesThrough(index, 0, 0), unix.RTM_NEWROUTE, func(m *syscall.NetlinkMessage) error {
		u, err := nldump.DecodeRoute(m)
		if err != nil {
			return err
		}
		if k, kind, ok := localRoute(&u.Route); ok {
			f.local.set(k, kind)
			f.localChanged = true
		} else if k, s, ok := convert(&u.Route); ok && s.throughAny(f.watched) {
			f.routes.set(k, s)
		}
		return nil
	})
}

// dump runs one filtered dump, req, on the follower's dump socket, calling
// each for every answer of type answer, and reads again if the kernel's
// table changed meanwhile.
func (f *follower) dump(req []byte, answer uint16, each func(m *syscall.NetlinkMessage) error) error {
	return nldump.Whole(func() error {
		var failed error
		err := nldump.Dump(f.dumpFD, req, func(m *syscall.NetlinkMessage) {
			if m.Header.Type == answer && failed == nil {
				failed = each(m)
			}
		})
		return errors.Join(err, failed)
	})
}

// compact moves what the follower holds into maps of its own size, after
// most watched devices went (a reload from 10 000 tunnels down to a few).
func (f *follower) compact() {
	f.routes = f.routes.compacted()
	f.links = resized(f.links)
	f.addresses = resized(f.addresses)
	f.local = f.local.compacted()
}

// linkList reads the watched devices' links, with one dump, keeping what a
// View shows of each: the library's LinkList decodes every attribute of
// every device (statistics, link info), and at 10 000 devices those were a
// large part of the 60 MB the read after a start held at once.
func (f *follower) linkList() ([]Link, error) {
	var out []Link
	err := f.dump(nldump.Links(), unix.RTM_NEWLINK, func(m *syscall.NetlinkMessage) error {
		d := m.Data
		if len(d) < unix.SizeofIfInfomsg {
			return nil
		}
		l := Link{Index: int(int32(binary.NativeEndian.Uint32(d[4:8]))), Up: binary.NativeEndian.Uint32(d[8:12])&unix.IFF_UP != 0}
		if _, ok := f.watched[l.Index]; !ok {
			return nil
		}
		nldump.Attributes(d[unix.SizeofIfInfomsg:], func(typ uint16, v []byte) {
			switch {
			case typ == unix.IFLA_IFNAME:
				l.Name = strings.TrimRight(string(v), "\x00")
			case typ == unix.IFLA_MTU && len(v) == 4:
				l.MTU = int(binary.NativeEndian.Uint32(v))
			}
		})
		out = append(out, l)
		return nil
	})
	return out, err
}

package kernelview

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
	"github.com/ipipd/ipipd/tun"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Fresh returns only once the notifications the kernel queued before it
// were applied: a change made over netlink, followed at once by Fresh,
// shows in the View Fresh returns, every time. 200 rounds of a route
// added, replaced and deleted, an address added and deleted and the device
// set down and up, so that a Fresh that answered before the follower had
// read what was queued would be caught.
func TestFreshIsABarrier(t *testing.T) {
	w, index, views := watch(t, "tunl0")
	drain(t, views)
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	link, err := h.LinkByIndex(index)
	if err != nil {
		t.Fatal(err)
	}
	to := netip.MustParsePrefix("192.168.42.0/24")
	route := func(via byte) *netlink.Route {
		return &netlink.Route{LinkIndex: index, Dst: &net.IPNet{IP: net.IP{192, 168, 42, 0}, Mask: net.CIDRMask(24, 32)},
			Gw: net.IP{10, 245, 1, via}, Flags: int(netlink.FLAG_ONLINK)}
	}
	address := &netlink.Addr{IPNet: &net.IPNet{IP: net.IP{192, 168, 41, 1}, Mask: net.CIDRMask(32, 32)}}
	fresh := func(round int, after string, ok func(v *View) bool) {
		t.Helper()
		v := w.Fresh()
		if v == nil {
			t.Fatalf("round %d, after %s: Fresh returned no View", round, after)
		}
		if !ok(v) {
			t.Fatalf("round %d: Fresh right after %s returned a View without it: link %+v, routes %v, addresses %v",
				round, after, v.Links[index], v.Routes[index], v.Addresses[index])
		}
	}
	for round := range 200 {
		check(t, h.RouteAdd(route(3)))
		fresh(round, "a route add", func(v *View) bool { return slices.Equal(routeVias(v, index, to.String()), []string{"10.245.1.3"}) })
		check(t, h.RouteReplace(route(4)))
		fresh(round, "a route replace", func(v *View) bool { return slices.Equal(routeVias(v, index, to.String()), []string{"10.245.1.4"}) })
		check(t, h.RouteDel(route(4)))
		fresh(round, "a route delete", func(v *View) bool { return len(v.Routes[index]) == 0 })
		check(t, h.AddrAdd(link, address))
		fresh(round, "an address add", func(v *View) bool { a, ok := v.FirstAddress(index); return ok && a.String() == "192.168.41.1" })
		check(t, h.AddrDel(link, address))
		fresh(round, "an address delete", func(v *View) bool { return len(v.Addresses[index]) == 0 })
		check(t, h.LinkSetDown(link))
		fresh(round, "a link down", func(v *View) bool { return !v.Links[index].Up })
		check(t, h.LinkSetUp(link))
		fresh(round, "a link up", func(v *View) bool { return v.Links[index].Up })
	}
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// drain reads views until the test ends, so that a Watcher that publishes
// more Views than the channel holds never blocks.
func drain(t *testing.T, views <-chan *View) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			select {
			case <-views:
			case <-done:
				return
			}
		}
	}()
}

// A Fresh whose barrier went out on a socket that had overflowed is
// answered by the read of the tables that follows the overflow, and its
// View holds every route. The follower is held in Publish while 6 000
// routes fill its channel and a 64 KiB socket; Fresh asks meanwhile, so its
// barrier goes out on the full socket, and the kernel drops the reply.
func TestFreshAcrossAnOverflow(t *testing.T) {
	defer func(size int) { receiveBuffer = size }(receiveBuffer)
	receiveBuffer = 64 << 10
	lab.EnterFresh(t)
	dev, err := tun.OpenWater("tunl0")
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	link, err := netlink.LinkByName("tunl0")
	if err != nil {
		t.Fatal(err)
	}
	check(t, netlink.LinkSetUp(link))
	index := link.Attrs().Index

	var logs lockedBuffer
	var hold atomic.Bool
	held, release := make(chan struct{}), make(chan struct{})
	views := make(chan *View, 1)
	w, err := Start(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Publish: func(v *View) {
		if hold.CompareAndSwap(true, false) {
			close(held)
			<-release
		}
		select {
		case <-views:
		default:
		}
		views <- v
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Watch(map[int]int{index: 254})
	if v := w.Fresh(); v == nil || !v.Links[index].Up {
		t.Fatalf("the first Fresh: %+v, want tunl0 up", v)
	}

	hold.Store(true)
	const routes = 6000
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for i := range routes {
		check(t, h.RouteAdd(&netlink.Route{LinkIndex: index, Scope: netlink.SCOPE_LINK,
			Dst: &net.IPNet{IP: net.IP{100, 64, byte(i >> 8), byte(i)}, Mask: net.CIDRMask(32, 32)}}))
		if i == 0 {
			<-held // the follower published the first and waits in Publish
		}
	}
	fresh := make(chan *View)
	go func() { fresh <- w.Fresh() }()
	time.Sleep(50 * time.Millisecond) // Fresh waits to hand its request over
	close(release)
	v := <-fresh
	if v == nil {
		t.Fatal("Fresh returned no View: its barrier was lost with the socket and nothing answered it")
	}
	if n := len(v.Routes[index]); n != routes {
		t.Errorf("Fresh after the overflow: %d routes, want %d", n, routes)
	}
	if !strings.Contains(logs.String(), "notifications were lost") {
		t.Errorf("the socket never overflowed, so the test proved nothing; the log:\n%s", logs.String())
	}
}

// lockedBuffer is a log's destination that the Watcher's goroutine writes
// and the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

package engine

import (
	"net"
	"net/netip"
	"os"
	goruntime "runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/config"
	"github.com/ipipd/ipipd/internal/kernelview"
	"github.com/ipipd/ipipd/internal/lab"
	"github.com/ipipd/ipipd/tun"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestFollowRouteBurst is the control plane's benchmark: a routing daemon's
// burst of N routes through tunl0 (IPIPD_FOLLOW_ROUTES, default 100 000 with
// -run TestFollowRouteBurst -v, 5 000 otherwise), added over netlink as fast
// as four writers can, followed by the watcher and built into the tables the
// datapath reads. It prints how long the adds took, how long after the last
// add the table holding all N was swapped in, how many tables were built on
// the way, the time of the last build and the heap after; it fails if the
// table never holds all N or a lookup allocates.
//
//	go test ./internal/engine -run TestFollowRouteBurst -v -count=1
func TestFollowRouteBurst(t *testing.T) {
	n := 5000
	if testing.Verbose() {
		n = 100000
	}
	if v, err := strconv.Atoi(os.Getenv("IPIPD_FOLLOW_ROUTES")); err == nil {
		n = v
	}
	lab.EnterFresh(t)
	dev, err := tun.OpenWater("tunl0")
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	link, _ := netlink.LinkByName("tunl0")
	netlink.LinkSetUp(link)
	lo, _ := netlink.LinkByName("lo")
	netlink.AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: net.IP{10, 245, 1, 2}, Mask: net.CIDRMask(24, 32)}})
	index := link.Attrs().Index

	cfg := config.Default()
	cfg.Tunnels[0].Down = false
	p, err := compile(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	rt := newRuntime("tunl0", nil, nil)
	rt.ifindex, rt.table = index, 254
	p.tunnels[0].rt = rt
	e := &Engine{}

	var (
		mu       sync.Mutex
		complete = make(chan time.Time, 1)
		builds   atomic.Int64
		lastCost time.Duration
		latest   atomic.Pointer[state]
	)
	// As the engine does: the watcher hands each View over and goes on;
	// a follower builds the tables from the newest one.
	var view atomic.Pointer[kernelview.View]
	ready := make(chan struct{}, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-ready:
			}
			start := time.Now()
			st, err := e.build(nil, p.tunnels, view.Load())
			if err != nil {
				t.Error(err)
				return
			}
			latest.Store(st)
			mu.Lock()
			lastCost = time.Since(start)
			mu.Unlock()
			builds.Add(1)
			if st.tables.Routes.Len() == n {
				select {
				case complete <- time.Now():
				default:
				}
			}
		}
	}()
	w, err := kernelview.Start(kernelview.Options{Publish: func(v *kernelview.View) {
		view.Store(v)
		select {
		case ready <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Watch(map[int]int{index: 254})
	time.Sleep(100 * time.Millisecond)
	builds.Store(0)

	// Four writers, each with its own netlink socket opened here, in the
	// test's namespace.
	const writers = 4
	var wg sync.WaitGroup
	handles := make([]*netlink.Handle, writers)
	for i := range handles {
		if handles[i], err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
			t.Fatal(err)
		}
		defer handles[i].Delete()
	}
	var heapBefore goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&heapBefore)
	first := time.Now()
	for wi := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := wi; i < n; i += writers {
				r := &netlink.Route{LinkIndex: index, Dst: &net.IPNet{IP: net.IP{100, byte(64 + i>>16), byte(i >> 8), byte(i)}, Mask: net.CIDRMask(32, 32)},
					Gw: net.IP{10, 245, 1, byte(3 + i%200)}, Flags: int(netlink.FLAG_ONLINK), Protocol: 12}
				if err := handles[wi].RouteAdd(r); err != nil {
					t.Errorf("route %d: %v", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	last := time.Now()
	var swapped time.Time
	select {
	case swapped = <-complete:
	case <-time.After(30 * time.Second):
		t.Fatalf("no table with all %d routes 30 s after the last add; the last had %d", n, latest.Load().tables.Routes.Len())
	}
	lag := max(swapped.Sub(last), 0)
	var heapAfter goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&heapAfter)
	mu.Lock()
	cost := lastCost
	mu.Unlock()

	st := latest.Load()
	probe := netip.AddrFrom4([4]byte{100, 64, 1, 7})
	if next, ok := st.tables.Routes.NextHop(probe, 0, 1); !ok || next == 0 {
		t.Errorf("%v: no next hop in the final table", probe)
	}
	if allocs := testing.AllocsPerRun(1000, func() { st.tables.Routes.NextHop(probe, 0, 1) }); allocs != 0 {
		t.Errorf("NextHop over the followed table allocates %.1f times", allocs)
	}
	t.Logf("%d routes: adds took %v (%.0f routes/s, 4 writers); table with all %d swapped in %v after the last add (%v after the first); %d tables built on the way, the last in %v; heap %+.1f MiB",
		n, last.Sub(first).Round(time.Millisecond), float64(n)/last.Sub(first).Seconds(), n, lag.Round(time.Millisecond),
		swapped.Sub(first).Round(time.Millisecond), builds.Load(), cost.Round(time.Millisecond),
		float64(int64(heapAfter.HeapInuse)-int64(heapBefore.HeapInuse))/(1<<20))
}

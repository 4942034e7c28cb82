package netsetup

import (
	"net/netip"
	"testing"

	"github.com/ipipd/ipipd/internal/lab"
)

// When the kernel's answers overflow the receive buffer (a kernel that
// charges more per acknowledgement than this one, or a smaller buffer),
// every route is still installed and recorded, so that Remove takes them
// all away, and DeleteRoutes still deletes them all.
func TestBatchesSurviveLostAnswers(t *testing.T) {
	lab.EnterFresh(t)
	saved := batchReceiveBuffer
	batchReceiveBuffer = 4096 // room for about ten answers
	defer func() { batchReceiveBuffer = saved }()

	addDevice(t, testDevice, 1500)
	l := seedLink()
	l.Routes = nil
	for i := range 600 {
		l.Routes = append(l.Routes, Route{To: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 80, byte(i >> 8), byte(i)}), 32)})
	}
	applied, err := Apply(l)
	if err != nil {
		t.Fatalf("Apply of 600 routes with answers lost: %v", err)
	}
	if got := len(applied.Routes()); got != 600 {
		t.Errorf("%d routes recorded, want 600", got)
	}
	if got := len(staticRoutes(t, refresh(t, testDevice))); got != 600 {
		t.Errorf("%d routes in the kernel, want 600", got)
	}

	index := refresh(t, testDevice).Attrs().Index
	var keys []RouteKey
	for _, r := range l.Routes {
		keys = append(keys, RouteKey{Index: index, Table: MainTable, To: r.To})
	}
	if _, err := DeleteRoutes(keys); err != nil {
		t.Errorf("DeleteRoutes with answers lost: %v", err)
	}
	if got := staticRoutes(t, refresh(t, testDevice)); len(got) != 0 {
		t.Errorf("%d routes left after DeleteRoutes, want none", len(got))
	}
	applied.Forget()
	applied.Remove()
}

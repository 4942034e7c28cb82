package rawsock_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
	"github.com/ipipd/ipipd/internal/rawsock"
)

func TestMain(m *testing.M) { lab.Main(m) }

// link is two namespaces joined by a veth pair: "va" 10.245.7.1/24 in a,
// "vb" 10.245.7.2/24 in b, with a Sender in a and a Receiver in b.
type link struct {
	a, b   *lab.NS
	vbLink int // ifindex of vb inside b
	s      *rawsock.Sender
	r      *rawsock.Receiver
}

func newLink(t testing.TB, so rawsock.SenderOptions, ro rawsock.ReceiverOptions) *link {
	t.Helper()
	lab.Require(t)
	l := &link{a: lab.New(t, "rawa"), b: lab.New(t, "rawb")}
	lab.Veth(t, l.a, "va", netip.PrefixFrom(addrA, 24), l.b, "vb", netip.PrefixFrom(addrB, 24))
	l.vbLink = l.b.Ifindex(t, "vb")
	// Resolve ARP first, so no batch waits in the neighbour queue.
	if err := l.a.Ping(addrB, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	err := l.a.Do(func() (err error) {
		l.s, err = rawsock.NewSender(so)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.s.Close() })
	err = l.b.Do(func() (err error) {
		l.r, err = rawsock.NewReceiver(ro)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.r.Close() })
	return l
}

// readN reads until n packets arrived or 5 s passed and returns copies of
// them with their ingress ifindexes.
func readN(t testing.TB, r *rawsock.Receiver, b *rawsock.Batch, n int) (pkts [][]byte, links []int) {
	t.Helper()
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer r.SetReadDeadline(time.Time{})
	for len(pkts) < n {
		got, err := r.Read(b)
		if err != nil {
			t.Fatalf("after %d of %d packets: %v", len(pkts), n, err)
		}
		for i := range got {
			if b.Truncated[i] {
				t.Errorf("packet %d truncated", len(pkts))
			}
			pkts = append(pkts, append([]byte(nil), b.Bufs[i][:b.Sizes[i]]...))
			links = append(links, b.Links[i])
		}
	}
	return pkts, links
}

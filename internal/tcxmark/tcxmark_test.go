package tcxmark

import (
	"bytes"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"

	"github.com/ipipd/ipipd/internal/lab"
)

func TestMain(m *testing.M) { lab.Main(m) }

// The program passes the kernel's verifier, attaches with tcx once per
// device, and comes off again: in a fresh namespace, on its lo.
func TestLoadMarkClose(t *testing.T) {
	lab.EnterFresh(t)
	m, err := Load()
	if err != nil {
		lab.SkipOrFail(t, "no tcx here: "+err.Error())
	}
	if err := m.Mark(loopback); err != nil {
		t.Fatal(err)
	}
	if err := m.Mark(loopback); err != nil {
		t.Fatalf("a second Mark of the same device: %v", err)
	}
	if len(m.links) != 1 {
		t.Fatalf("%d links after two Marks of one device; want 1", len(m.links))
	}
	m.Forget(loopback)
	if err := m.Mark(loopback); err != nil {
		t.Fatalf("Mark after Forget: %v", err)
	}
	if err := m.Mark(9999); err == nil {
		t.Error("Mark of a device that does not exist succeeded")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Mark(loopback); err == nil {
		t.Error("Mark after Close succeeded")
	}
}

// A device that goes takes its programs with it; made again with the same
// index (ip link add … index N), it gets the program back from the next
// Mark, where the link the Marker kept would have said it had it.
func TestMarkPutsTheProgramBackOnADeviceMadeAgain(t *testing.T) {
	lab.EnterFresh(t)
	m, err := Load()
	if err != nil {
		lab.SkipOrFail(t, "no tcx here: "+err.Error())
	}
	defer m.Close()
	const index = 4242
	add := func() {
		t.Helper()
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "mark0", Index: index}, PeerName: "mark1"}
		if err := netlink.LinkAdd(veth); err != nil {
			t.Fatal(err)
		}
	}
	programs := func() int {
		t.Helper()
		q, err := link.QueryPrograms(link.QueryOptions{Target: index, Attach: ebpf.AttachTCXEgress})
		if err != nil {
			t.Fatal(err)
		}
		return len(q.Programs)
	}
	add()
	if err := m.Mark(index); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkDel(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "mark0"}}); err != nil {
		t.Fatal(err)
	}
	add()
	if n := programs(); n != 0 {
		t.Fatalf("the device made again has %d programs before Mark; want 0", n)
	}
	if err := m.Mark(index); err != nil {
		t.Fatal(err)
	}
	if n := programs(); n != 1 {
		t.Fatalf("the device made again has %d programs after Mark; want 1", n)
	}
	if err := m.Mark(index); err != nil || programs() != 1 {
		t.Fatalf("a second Mark of the device: %v, %d programs; want nil, 1", err, programs())
	}
}

// skbContext is the start of struct __sk_buff up to gso_size, as
// BPF_PROG_TEST_RUN takes it: the fields a test may set.
type skbContext struct {
	Len, PktType, Mark uint32
	_                  [176 - 12]byte
	GSOSize            uint32
	_                  [192 - 180]byte
}

// The program touches only ipipd's own frames (SocketMark): an IPIP
// super-packet without the mark (forwarded traffic, the kernel's own
// tunnel) goes on as it came, mark and bytes. (BPF_PROG_TEST_RUN cannot
// make a real GSO skb, so the marking itself is checked end to end:
// e2e TestTransmitGSO.)
func TestProgramMarksOnlyIpipdsFrames(t *testing.T) {
	lab.EnterFresh(t)
	m, err := Load()
	if err != nil {
		lab.SkipOrFail(t, "no tcx here: "+err.Error())
	}
	defer m.Close()
	frame := make([]byte, 14+20+20+20+1400)
	frame[12], frame[13] = 0x08, 0x00 // IPv4
	outer := frame[14:]
	outer[0], outer[8], outer[9] = 0x45, 64, 4
	copy(outer[12:], []byte{10, 245, 1, 2, 10, 245, 1, 3})
	inner := outer[20:]
	inner[0], inner[9] = 0x45, 6
	inner[20+12] = 5 << 4 // TCP data offset
	for _, tt := range []struct {
		name string
		mark uint32
	}{
		{"not ipipd's", 0},
		{"another mark", 0x10},
	} {
		in := skbContext{Mark: tt.mark, GSOSize: 1400}
		var out skbContext
		data := make([]byte, len(frame)+64)
		ret, err := m.prog.Run(&ebpf.RunOptions{Data: frame, DataOut: data, Context: in, ContextOut: &out})
		if err != nil {
			t.Fatalf("%s: test run: %v", tt.name, err)
		}
		if int32(ret) != tcxNext {
			t.Errorf("%s: returned %d, want %d (next)", tt.name, int32(ret), tcxNext)
		}
		if out.Mark != tt.mark {
			t.Errorf("%s: mark changed to %#x", tt.name, out.Mark)
		}
		if !bytes.Equal(data[:len(frame)], frame) {
			t.Errorf("%s: the frame changed", tt.name)
		}
	}
}

package encap

import "testing"

func TestEncapAllocatesNothing(t *testing.T) {
	tu := NewTunnel(Params{Local: local, TTL: 64, PMTUDisc: true})
	ids := NewIDs(1)
	buf := innerPacket(1400, 0, 64, false)
	big := innerPacket(3000, 0, 64, false)
	out := make([][]byte, 4)
	for i := range out {
		out[i] = make([]byte, 1500)
	}
	sizes := make([]int, 4)
	icmp := make([]byte, 576)
	frag := NewTunnel(Params{Local: local})
	allocs := testing.AllocsPerRun(1000, func() {
		tu.Encap(buf, 1400, remote, ids, Path{MTU: 1500})
		r := frag.Encap(big, 3000, remote, ids, Path{MTU: 1500})
		FragmentPacket(r.Packet(big), 1500, out, sizes)
		BuildFragNeeded(icmp, buf[Headroom:], 1480, 1, 1)
	})
	if allocs != 0 {
		t.Errorf("encap path allocates %.1f times per run, want 0", allocs)
	}
}

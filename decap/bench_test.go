package decap

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/lookup"
)

// BenchmarkDecap is one packet through Decap, tunnel lookup included, with
// 1, 1 000 and 10 000 point-to-point tunnels; 1024 packets from different
// remotes are cycled so the lookup is not one hot key.
func BenchmarkDecap(b *testing.B) {
	for _, n := range []int{1, 1000, 10000} {
		b.Run(fmt.Sprintf("tunnels=%d", n), func(b *testing.B) {
			tunnels := []lookup.Tunnel{{Name: "tunl0"}}
			for i := 0; i < n; i++ {
				tunnels = append(tunnels, lookup.Tunnel{Name: fmt.Sprint("t", i), Local: self, Remote: remoteN(i)})
			}
			tt := table(b, tunnels...)
			pkts := make([][]byte, 1024)
			for i := range pkts {
				pkts[i] = outerPacket(remoteN(i%n), self, 0, 0, 84)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p := pkts[i&1023]
				if r := Decap(p, len(p), eth0, tt); r.Verdict != Deliver || r.Tunnel == 0 {
					b.Fatal(r.Verdict, r.Reason)
				}
			}
		})
	}
}

func remoteN(i int) netip.Addr { return header.AddrFrom32(0x0a000001 + uint32(i)) }

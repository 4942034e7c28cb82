package encap

import (
	"fmt"
	"testing"
)

// BenchmarkEncap measures one packet through Encap: header built in place
// in front of an inner packet of 64 and 1400 bytes. The inner bytes are not
// touched beyond the header, so the size matters only through the cache.
func BenchmarkEncap(b *testing.B) {
	for _, n := range []int{64, 1400} {
		for _, name := range []string{"ttl=inherit,tos=inherit", "ttl=64,tos=0"} {
			b.Run(fmt.Sprintf("inner=%dB/%s", n, name), func(b *testing.B) {
				p := Params{Local: local, PMTUDisc: true, InheritTOS: true}
				if name != "ttl=inherit,tos=inherit" {
					p = Params{Local: local, PMTUDisc: true, TTL: 64}
				}
				tu := NewTunnel(p)
				ids := NewIDs(1)
				buf := innerPacket(n, 0x2a, 64, true)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if r := tu.Encap(buf, n, remote, ids, Path{MTU: 1500}); r.Verdict != Send {
						b.Fatal(r.Verdict)
					}
				}
			})
		}
	}
}

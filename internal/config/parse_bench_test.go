package config

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkParse reads configs of N point-to-point tunnels with 10 routes
// each, as bench/cmd/ipiptunnels writes them: a reload reads the whole file
// again, so at 10 000 tunnels this is the floor of a reload's time.
//
//	go test ./internal/config -run '^$' -bench Parse -benchtime 3x
func BenchmarkParse(b *testing.B) {
	for _, n := range []int{100, 10000} {
		data := []byte(manyTunnels(n, 10))
		b.Run(fmt.Sprintf("tunnels=%d/routes=%d", n, 10*n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Parse("many.yaml", data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// manyTunnels is a config of n tunnels with routes routes each.
func manyTunnels(n, routes int) string {
	var s strings.Builder
	s.WriteString("tunnels:\n")
	for i := range n {
		fmt.Fprintf(&s, "  - name: t%d\n    local: 10.31.0.1\n    remote: 10.32.%d.%d\n    addresses: [10.16.%d.%d/32]\n    routes:\n",
			i, i/250, i%250+1, i/250, i%250+1)
		for r := range routes {
			k := i*routes + r
			fmt.Fprintf(&s, "      - {to: 10.%d.%d.%d/28}\n", 64+k/4096, (k/16)%256, (k%16)*16)
		}
	}
	return s.String()
}

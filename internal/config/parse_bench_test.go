package config

import (
	"fmt"
	"testing"

	"github.com/ipipd/ipipd/internal/lab"
)

// BenchmarkParse reads configs of N point-to-point tunnels with 10 routes
// each, the config bench/cmd/ipiptunnels runs ipipd on: a reload reads the
// whole file again, so at 10 000 tunnels this is the floor of a reload's
// time.
//
//	go test ./internal/config -run '^$' -bench Parse -benchtime 3x
func BenchmarkParse(b *testing.B) {
	for _, n := range []int{100, 10000} {
		data := []byte(lab.ManyTunnels(n, 10*n, 0, "offload"))
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

// BenchmarkCrossCheck times the file-wide checks of 10 000 tunnels and
// 100 000 routes, which every load and reload runs over the whole file,
// even when a Loader decodes one tunnel.
//
//	go test ./internal/config -run '^$' -bench CrossCheck -benchmem
func BenchmarkCrossCheck(b *testing.B) {
	data := []byte(lab.ManyTunnels(10000, 100000, 0, "offload"))
	p := &parser{file: "many.yaml"}
	p.top(p.document(data))
	b.ReportAllocs()
	for b.Loop() {
		p.errs, p.warnings = nil, nil
		p.crossCheck()
		if len(p.errs) > 0 {
			b.Fatal(p.errs)
		}
	}
}

package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ipipd/ipipd/internal/lab"
)

// BenchmarkLoaderOneChanged times a reload of 10 000 tunnels and 100 000
// routes in which one tunnel changed: the Loader has read the file once,
// and each op reads it again with that tunnel's remote changed back or
// forth, so each has exactly one item to decode. The target is 40 ms, a
// fifth of a whole reload's 200 ms; Parse takes most of a second.
//
//	go test ./internal/config -run '^$' -bench LoaderOneChanged -benchmem
func BenchmarkLoaderOneChanged(b *testing.B) {
	const n = 10000
	data := lab.ManyTunnels(n, 10*n, 0, "offload")
	versions := [2][]byte{[]byte(data), []byte(withRemoteChanged(b, data, n/2))}
	var l Loader
	if _, err := l.Parse("many.yaml", versions[0]); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := l.Parse("many.yaml", versions[i%2]); err != nil {
			b.Fatal(err)
		}
		if l.decoded != 1 || l.whole {
			b.Fatalf("decoded %d items, whole file %v; want 1 item, not the whole file", l.decoded, l.whole)
		}
	}
}

// withRemoteChanged is a ManyTunnels config with tunnel i's remote moved
// from 10.32.0.0/16 to 10.33.0.0/16, where no other tunnel's is.
func withRemoteChanged(tb testing.TB, data string, i int) string {
	start := strings.Index(data, fmt.Sprintf("  - name: t%d\n", i))
	remote := strings.Index(data[start:], "remote: 10.32.")
	if start < 0 || remote < 0 {
		tb.Fatalf("no tunnel t%d with a remote in 10.32.0.0/16", i)
	}
	at := start + remote + len("remote: 10.3")
	return data[:at] + "3" + data[at+1:]
}

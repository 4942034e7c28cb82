package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipipd/ipipd/internal/lab"
)

// FuzzParse feeds arbitrary bytes to Parse: it must never panic, must refuse
// with well-formed Errors, and whatever it accepts must hold the invariants
// the datapath relies on.
func FuzzParse(f *testing.F) {
	// The design's example and every refused file of testdata/bad.
	paths, _ := filepath.Glob("testdata/bad/*.yaml")
	for _, path := range append(paths, "testdata/mesh-node1.yaml") {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(""))                                                     // empty file
	f.Add([]byte("tunnels: [{name: t, dev: eth0, tos: 0x10, mtu: 68}]"))  // flow style, dev-bound wildcard
	f.Add([]byte("tunnels:\n  - &a {name: a, ttl: *a}\n  - *a\n"))        // recursive anchor
	f.Add([]byte("tunnels:\n  - <<: {name: a}\n"))                        // merge key
	f.Add([]byte("tunnels: !!map {name: a}\n---\n"))                      // tag, second document
	f.Add([]byte("tunnels:\n  - name: \"\\0\"\n    remote: 239.1.1.1\n")) // NUL in a name, multicast remote

	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			checkErrors(t, err)
			return
		}
		checkConfig(t, c)
	})
}

// FuzzLoaderMatchesParse loads a, b and a again through one Loader, as a
// daemon reloads, and checks each result against Parse's: the same Config,
// lines and warnings included, or the same Errors. The seeds under
// testdata/fuzz/FuzzLoaderMatchesParse are pairs named for what they try:
// an item changed, reordered, inserted above the others, duplicated, a
// file the cut must not take (flow style, anchors, a quoted scalar across
// items, a second key); here are added the files of testdata, each after a
// ManyTunnels file.
func FuzzLoaderMatchesParse(f *testing.F) {
	paths, _ := filepath.Glob("testdata/bad/*.yaml")
	many := []byte(lab.ManyTunnels(3, 6, 0, "offload"))
	for _, path := range append(paths, "testdata/mesh-node1.yaml") {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(many, data)
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var l Loader
		for _, data := range [][]byte{a, b, a} {
			sameAsParse(t, &l, data)
		}
	})
}

func checkErrors(t *testing.T, err error) {
	var es Errors
	if !errors.As(err, &es) || len(es) == 0 {
		t.Fatalf("err = %v (%T), want non-empty Errors", err, err)
	}
	for i, e := range es {
		if e.File != "fuzz.yaml" || e.Message == "" || e.Line < 0 || e.Column < 0 {
			t.Errorf("malformed error %#v", e)
		}
		if i > 0 && e.Line < es[i-1].Line {
			t.Errorf("errors out of order: %v before %v", es[i-1], e)
		}
	}
}

func checkConfig(t *testing.T, c *Config) {
	if c == nil || len(c.Tunnels) == 0 {
		t.Fatalf("accepted a config without tunnels: %+v", c)
	}
	names := make(map[string]bool)
	ids := make(map[identity]bool)
	for _, tu := range c.Tunnels {
		if tu.Name == "" || len(tu.Name) > 15 || names[tu.Name] {
			t.Errorf("bad or repeated name %q", tu.Name)
		}
		names[tu.Name] = true
		id := identity{tu.Local, tu.Remote, tu.Dev}
		if ids[id] {
			t.Errorf("repeated identity %v", id)
		}
		ids[id] = true
		if tu.Local.IsValid() && (!tu.Local.Is4() || tu.Local.IsMulticast() || tu.Local.IsUnspecified()) {
			t.Errorf("bad local %v", tu.Local)
		}
		if tu.Remote.IsValid() && (!tu.Remote.Is4() || tu.Remote.IsUnspecified()) {
			t.Errorf("bad remote %v", tu.Remote)
		}
		if tu.TTL != 0 && !tu.PMTUDisc {
			t.Errorf("fixed ttl %d without DF", tu.TTL)
		}
		if tu.TOS&1 != 0 || (tu.MTU != 0 && (tu.MTU < 68 || tu.MTU > 65515)) {
			t.Errorf("bad tos %d or mtu %d", tu.TOS, tu.MTU)
		}
		for _, a := range tu.Addresses {
			if !a.Addr().Is4() {
				t.Errorf("non-IPv4 address %v", a)
			}
		}
		for _, r := range tu.Routes {
			if !r.To.Addr().Is4() || r.To != r.To.Masked() {
				t.Errorf("bad route prefix %v", r.To)
			}
			if r.Via.IsValid() && (!r.Via.Is4() || r.Via.IsMulticast() || r.Via.IsUnspecified()) {
				t.Errorf("bad via %v", r.Via)
			}
		}
	}
}

package config

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ipipd/ipipd/internal/lab"
)

// parsedWhole is the decoded count of a load that must parse the whole file.
const parsedWhole = -1

// loaderBase has a tunnel of each kind, block and flow routes, and the
// defaults that differ by kind.
const loaderBase = `tunnels:
  - name: a
    local: 10.3.3.3
    remote: 10.4.4.4
    ttl: 64
    routes:
      - {to: 192.168.1.0/24}
      - to: 192.168.2.0/24
        via: 10.4.4.4
  - name: b
    remote: 10.4.4.5
    addresses: [172.16.0.1/30]
    accept_from: [known, 10.245.0.0/16]
  - name: c
    dev: eth0
    routes: [{to: 10.9.0.0/16, via: 10.245.1.3}]
`

// The items of loaderBase, to build other files from.
var (
	baseA = loaderBase[len("tunnels:\n"):strings.Index(loaderBase, "  - name: b")]
	baseB = loaderBase[strings.Index(loaderBase, "  - name: b"):strings.Index(loaderBase, "  - name: c")]
	baseC = loaderBase[strings.Index(loaderBase, "  - name: c"):]
)

// loops has routes that loop, whose warnings must move with their items: a
// route without via on a tunnel without remote, and routes covering a via
// and a remote of other items.
const loops = `tunnels:
  - name: n
    routes:
      - {to: 192.168.42.0/24}
      - {to: 10.250.0.0/16, via: 10.245.1.3}
  - name: v
    remote: 10.245.9.9
    routes: [{to: 10.245.0.0/16}]
`

// load is one load of a sequence through one Loader, and how many items
// it must decode alone (parsedWhole: the file is parsed whole).
type load struct {
	file    string
	decoded int
}

// TestLoaderMatchesParse loads files one after the other through one
// Loader, as a daemon reloads, and checks each result against Parse's: the
// same Config, lines and warnings included, or the same Errors. It also
// checks which loads take the fast path, so that a file the cut should
// take does not silently go whole.
func TestLoaderMatchesParse(t *testing.T) {
	many := lab.ManyTunnels(20, 60, 0, "offload")
	tests := []struct {
		name  string
		loads []load
	}{
		{"the same file again", []load{{loaderBase, 3}, {loaderBase, 0}}},
		{"one item changed", []load{{loaderBase, 3}, {strings.Replace(loaderBase, "10.4.4.5", "10.4.4.6", 1), 1}, {loaderBase, 1}}},
		{"items reordered", []load{{loaderBase, 3}, {"tunnels:\n" + baseC + baseA + baseB, 0}}},
		{"an item inserted above the others: their lines move", []load{
			{loaderBase, 3},
			{"tunnels:\n  - name: z\n    remote: 10.4.4.9\n    routes: [{to: 10.77.0.0/16}]\n" + baseA + baseB + baseC, 1},
			{loaderBase, 0},
		}},
		{"an item removed", []load{{loaderBase, 3}, {"tunnels:\n" + baseA + baseC, 0}}},
		{"comments and blank lines between items", []load{
			{loaderBase, 3},
			{"# node file\n\ntunnels:   # all of them\n# first\n" + baseA + "\n# b next\n   # indented comment\n" + baseB + "\n\n" + baseC + "# the end\n", 3},
		}},
		{"an item changed in a comment only", []load{{loaderBase, 3}, {strings.Replace(loaderBase, "name: b", "name: b # bee", 1), 1}}},
		{"the list at column 0", []load{
			{"tunnels:\n- name: a\n  remote: 10.4.4.4\n- name: b\n  remote: 10.4.4.5\n  routes:\n  - to: 10.1.0.0/16\n", 2},
			{"tunnels:\n- name: b\n  remote: 10.4.4.5\n  routes:\n  - to: 10.1.0.0/16\n- name: a\n  remote: 10.4.4.4\n", 0},
		}},
		{"no newline at the end", []load{{strings.TrimSuffix(loaderBase, "\n"), 3}, {loaderBase, 1}}},
		{"warnings move with their items", []load{
			{loops, 2},
			{"tunnels:\n  - name: first\n    remote: 10.4.4.4\n" + loops[len("tunnels:\n"):], 1},
			{"tunnels:\n" + loops[strings.Index(loops, "  - name: v"):] + loops[len("tunnels:\n"):strings.Index(loops, "  - name: v")], 0},
		}},
		{"ManyTunnels, one remote changed", []load{{many, 20}, {withRemoteChanged(t, many, 7), 1}, {many, 1}}},
		{"ManyTunnels with extra routes on t0", []load{{many, 20}, {lab.ManyTunnels(20, 60, 3, "offload"), 1}}},

		// Refused files. A problem within an item has the whole file
		// parsed, for Parse's messages; the good items are kept for the
		// next load. A conflict between items is found by the same
		// file-wide checks on either path.
		{"a syntax error in an item", []load{
			{loaderBase, 3},
			{strings.Replace(loaderBase, "[172.16.0.1/30]", "[172.16.0.1/30", 1), parsedWhole},
			{loaderBase, 1},
		}},
		{"a bad value in an item", []load{{loaderBase, 3}, {strings.Replace(loaderBase, "ttl: 64", "ttl: 300", 1), parsedWhole}}},
		{"names repeated across items", []load{{loaderBase, 3}, {strings.Replace(loaderBase, "name: c", "name: a", 1), 1}, {loaderBase, 1}}},
		{"conflicts between items that moved", []load{
			{loaderBase, 3},
			{"tunnels:\n  - name: z\n    remote: 10.4.4.9\n" + baseA + baseB + strings.Replace(baseC, "name: c", "name: a", 1), 2},
			{"tunnels:\n  - name: z\n    remote: 10.4.4.9\n    routes: [{to: 192.168.2.0/24}]\n" + baseB + baseA + baseC, 2}, // c was renamed last time
		}},
		{"an item twice", []load{{loaderBase, 3}, {loaderBase + baseA, parsedWhole}}},
		{"a route repeated across items", []load{{loaderBase, 3}, {strings.Replace(loaderBase, "10.9.0.0/16", "192.168.1.0/24", 1), 1}}},
		{"a route to an address's subnet in another item", []load{{loaderBase, 3}, {strings.Replace(loaderBase, "10.9.0.0/16", "172.16.0.0/30", 1), 1}}},
		{"a via on a tunnel with a remote", []load{{loaderBase, 3}, {strings.Replace(loaderBase, "via: 10.4.4.4", "via: 10.4.4.8", 1), 1}}},
		{"identities repeated across items", []load{{loaderBase, 3}, {strings.Replace(loaderBase, "remote: 10.4.4.5", "local: 10.3.3.3\n    remote: 10.4.4.4", 1), 1}}},
		{"an item that is not a mapping", []load{{loaderBase, 3}, {loaderBase + "  - just a word\n", parsedWhole}}},

		// Files the cut does not take.
		{"flow style", []load{{loaderBase, 3}, {"tunnels: [{name: a, remote: 10.4.4.4}, {name: b}]\n", parsedWhole}, {loaderBase, 3}}},
		{"anchors and aliases", []load{{"tunnels:\n  - &a {name: a, remote: 10.4.4.4}\n  - {name: b, remote: *x}\n", parsedWhole}}},
		{"an alias to another item's anchor", []load{{"tunnels:\n  - name: a\n    remote: &r 10.4.4.4\n  - name: b\n    local: *r\n", parsedWhole}}},
		{"a tag", []load{{"tunnels:\n  - name: !!str a\n", parsedWhole}}},
		{"a block scalar", []load{{"tunnels:\n  - name: |\n      a\n", parsedWhole}}},
		{"a quoted scalar across items", []load{{"tunnels:\n  - name: \"a\n  - b\"\n", parsedWhole}}},
		{"a flow list across items", []load{{"tunnels:\n  - {name: a,\n  - b}\n", parsedWhole}}},
		{"a second top-level key", []load{{loaderBase, 3}, {loaderBase + "routes: []\n", parsedWhole}}},
		{"a second document", []load{{loaderBase + "---\n" + loaderBase, parsedWhole}}},
		{"a tab", []load{{strings.Replace(loaderBase, "    ttl: 64", "\tttl: 64", 1), parsedWhole}}},
		{"carriage returns", []load{{strings.ReplaceAll(loaderBase, "\n", "\r\n"), parsedWhole}}},
		{"non-ASCII in a comment", []load{{strings.Replace(loaderBase, "name: b", "name: b # café", 1), parsedWhole}}},
		{"a line break YAML knows and the cut does not", []load{{strings.Replace(loaderBase, "    ttl: 64\n", "    # \u2028ttl: 64\n", 1), parsedWhole}}},
		{"an empty list", []load{{"tunnels:\n", parsedWhole}, {"tunnels:\n# none\n", parsedWhole}}},
		{"an empty file", []load{{"", parsedWhole}, {loaderBase, 3}}},
		{"an item indented less than the first", []load{{"tunnels:\n    - name: a\n  - name: b\n", parsedWhole}}},
		{"a line outside the list", []load{{"tunnels:\n  - name: a\n name: b\n", parsedWhole}}},
		{"the tunnels key indented", []load{{" tunnels:\n  - name: a\n", parsedWhole}}},
		{"the list's first item on its own line", []load{{"tunnels:\n  -\n    name: a\n", parsedWhole}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l Loader
			for i, ld := range tt.loads {
				sameAsParse(t, &l, []byte(ld.file))
				decoded := l.decoded
				if l.whole {
					decoded = parsedWhole
				}
				if decoded != ld.decoded {
					t.Errorf("load %d: decoded %d items (%d: the whole file); want %d", i, decoded, parsedWhole, ld.decoded)
				}
			}
		})
	}
}

// TestLoaderMatchesParseOnTestdata loads each file of testdata after a
// ManyTunnels file and before it again.
func TestLoaderMatchesParseOnTestdata(t *testing.T) {
	paths, _ := filepath.Glob("testdata/bad/*.yaml")
	many := []byte(lab.ManyTunnels(5, 10, 0, "water"))
	for _, path := range append(paths, "testdata/mesh-node1.yaml") {
		t.Run(path, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var l Loader
			for _, d := range [][]byte{many, data, many, data} {
				sameAsParse(t, &l, d)
			}
		})
	}
}

// The fast path is taken for the file of a daemon of 10 000 tunnels (a
// thousand here, the same shape), and a one-tunnel change decodes one item:
// otherwise a reload could fall back to a whole parse, and to most of a
// second, with no test to see it.
func TestLoaderDecodesOnlyTheChangedItem(t *testing.T) {
	const n = 1000
	data := lab.ManyTunnels(n, 10*n, 0, "offload")
	var l Loader
	for i, ld := range []load{
		{data, n},
		{withRemoteChanged(t, data, n/2), 1},
		{data, 1},
		{data, 0},
	} {
		sameAsParse(t, &l, []byte(ld.file))
		if l.whole || l.decoded != ld.decoded {
			t.Errorf("load %d: decoded %d items, whole file %v; want %d items, not the whole file", i, l.decoded, l.whole, ld.decoded)
		}
		if len(l.items) != n {
			t.Errorf("load %d: the cache holds %d items; want the file's %d", i, len(l.items), n)
		}
	}
}

// A Config of the Loader may be kept while the next is loaded: the items
// it shares with the next are never changed, only replaced.
func TestLoaderKeepsEarlierConfigs(t *testing.T) {
	var l Loader
	first, err := l.Parse("f.yaml", []byte(loaderBase))
	if err != nil {
		t.Fatal(err)
	}
	kept, _ := Parse("f.yaml", []byte(loaderBase))
	moved := "tunnels:\n  - name: z\n    remote: 10.4.4.9\n" + baseA + baseB + baseC
	sameAsParse(t, &l, []byte(moved))
	if !reflect.DeepEqual(first, kept) {
		t.Errorf("the first Config changed when the next file was loaded:\n%s", describe(first, kept))
	}
}

// sameAsParse loads data through l and checks the result against Parse's.
func sameAsParse(t *testing.T, l *Loader, data []byte) {
	t.Helper()
	got, gotErr := l.Parse("f.yaml", data)
	want, wantErr := Parse("f.yaml", data)
	var gotErrs, wantErrs Errors
	switch {
	case (gotErr == nil) != (wantErr == nil):
		t.Fatalf("Loader: %v\nParse: %v\nfile:\n%s", gotErr, wantErr, data)
	case errors.As(wantErr, &wantErrs) && (!errors.As(gotErr, &gotErrs) || !reflect.DeepEqual(gotErrs, wantErrs)):
		t.Fatalf("Loader refused with\n%v\nParse with\n%v\nfile:\n%s", gotErr, wantErr, data)
	case !reflect.DeepEqual(got, want):
		t.Fatalf("Loader's Config differs from Parse's:\n%s\nfile:\n%s", describe(got, want), data)
	}
}

// describe says where two Configs first differ.
func describe(got, want *Config) string {
	if got == nil || want == nil {
		return fmt.Sprintf("got %v, want %v", got, want)
	}
	if !reflect.DeepEqual(got.Warnings, want.Warnings) {
		return fmt.Sprintf("warnings\n got  %v\n want %v", got.Warnings, want.Warnings)
	}
	if len(got.Tunnels) != len(want.Tunnels) {
		return fmt.Sprintf("%d tunnels, want %d", len(got.Tunnels), len(want.Tunnels))
	}
	for i := range got.Tunnels {
		if !reflect.DeepEqual(got.Tunnels[i], want.Tunnels[i]) {
			return fmt.Sprintf("tunnels[%d]\n got  %+v\n want %+v", i, got.Tunnels[i], want.Tunnels[i])
		}
	}
	return fmt.Sprintf("got %+v\nwant %+v", got, want)
}

// A daemon's file changes a little between reloads, again and again: here
// items are changed, moved, added, removed and commented at random (with a
// fixed seed), now and then with a mistake for one load, and every load is
// checked against Parse. Routes covering the remotes and the vias, and
// tunnels without remote, give warnings that must move with their items.
func TestLoaderFollowsRandomEdits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// item n has addresses of its own: a file of such items is accepted.
	item := func(n int) string {
		a, b := n/256, n%256
		switch rng.IntN(4) {
		case 0:
			return fmt.Sprintf("  - name: t%d\n    remote: 10.4.%d.%d\n    routes:\n      - {to: 10.%d.%d.0/24}\n", n, a, b, 100+a, b)
		case 1:
			return fmt.Sprintf("  - name: t%d\n    local: 10.3.%d.%d\n    routes: [{to: 10.%d.%d.0/24, via: 10.245.1.3}]\n", n, a, b, 100+a, b)
		case 2:
			return fmt.Sprintf("  - {name: t%d, remote: 10.4.%d.%d, addresses: [172.16.%d.%d/32]}\n", n, a, b, a, b)
		}
		return fmt.Sprintf("  - name: t%d # no remote: its route loops\n    local: 10.3.%d.%d\n    dev: eth0\n    routes:\n      - to: 10.%d.%d.0/24\n", n, a, b, 100+a, b)
	}
	items := []string{"  - name: cover\n    remote: 10.9.9.9\n    routes: [{to: 10.4.0.0/16}, {to: 10.245.0.0/16}]\n"}
	for n := range 8 {
		items = append(items, item(n))
	}
	next := len(items)
	var l Loader
	for range 300 {
		i, j := rng.IntN(len(items)), rng.IntN(len(items))
		switch rng.IntN(5) {
		case 0:
			items[i], items[j] = items[j], items[i]
		case 1:
			items = slices.Insert(items, i, item(next))
			next++
		case 2:
			if len(items) > 1 {
				items = slices.Delete(items, i, i+1)
			}
		case 3:
			items[i] = item(next)
			next++
		case 4:
			items[i] += "\n  # between\n"
		}
		file := "tunnels:\n" + strings.Join(items, "")
		switch rng.IntN(8) {
		case 0: // an item twice
			file += items[i]
		case 1: // a mistake in an item
			file = strings.Replace(file, "remote", "remtoe", 1)
		case 2: // a conflict between items
			file = strings.Replace(file, fmt.Sprintf("name: t%d", next-1), "name: cover", 1)
		}
		sameAsParse(t, &l, []byte(file))
	}
}

package lookup

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

// The addresses and links of kernel-ipip.md section 2: S is the peer that
// sends, D this node, eth0 and eth1 two underlay links.
var (
	S      = netip.MustParseAddr("10.245.1.3")
	S2     = netip.MustParseAddr("10.245.1.9")
	D      = netip.MustParseAddr("10.245.1.2")
	X      = netip.MustParseAddr("10.245.1.7")
	R      = netip.MustParseAddr("10.245.1.8")
	M      = netip.MustParseAddr("239.1.1.1")
	anyIP  netip.Addr
	eth0   = 2
	eth1   = 3
	tunl0  = Tunnel{Name: "tunl0"}
	downed = func(t Tunnel) Tunnel { t.Down = true; return t }
)

func tun(name string, local, remote netip.Addr, link int) Tunnel {
	return Tunnel{Name: name, Local: local, Remote: remote, Link: link}
}

// TestKernelExamples is the table of kernel-ipip.md section 2, one row per
// example, with tunl0 first because the kernel creates it at module load.
func TestKernelExamples(t *testing.T) {
	tests := []struct {
		name     string
		tunnels  []Tunnel
		src, dst netip.Addr
		link     int
		want     string // tunnel name, "" for none
	}{
		{"1 exact pair, link mismatch is still the candidate",
			[]Tunnel{tun("A", D, S, 0)}, S, D, eth0, "A"},
		{"2 exact pair, the link decides",
			[]Tunnel{tun("A", D, S, eth0), tun("B", D, S, eth1)}, S, D, eth1, "B"},
		{"3 phase 2 exact link beats phase 1 candidate",
			[]Tunnel{tun("A", D, S, eth1), tun("B", anyIP, S, eth0)}, S, D, eth0, "B"},
		{"4 phase 1 before phase 2",
			[]Tunnel{tun("A", D, S, 0), tun("B", anyIP, S, 0)}, S, D, eth0, "A"},
		{"5 phase 2 before phase 3",
			[]Tunnel{tun("B", anyIP, S, 0), tun("C", D, anyIP, 0)}, S, D, eth0, "B"},
		{"6 local-only tunnel takes any source, before tunl0",
			[]Tunnel{tunl0, tun("C", D, anyIP, 0)}, S2, D, eth0, "C"},
		{"7 other local: tunl0 when up",
			[]Tunnel{tunl0, tun("E", X, S, 0)}, S, D, eth0, "tunl0"},
		{"7 other local: none when tunl0 is down",
			[]Tunnel{downed(tunl0), tun("E", X, S, 0)}, S, D, eth0, ""},
		{"8 other remote: tunl0 when up",
			[]Tunnel{tunl0, tun("F", D, R, 0)}, S, D, eth0, "tunl0"},
		{"8 other remote: none when tunl0 is down",
			[]Tunnel{downed(tunl0), tun("F", D, R, 0)}, S, D, eth0, ""},
		{"9 multicast remote matches the group as destination",
			[]Tunnel{tun("G", X, M, 0)}, S, M, eth0, "G"},
		{"10 link-bound wildcard, exact link",
			[]Tunnel{tun("W", anyIP, anyIP, eth0)}, S, D, eth0, "W"},
		{"11 link-bound wildcard is newer than tunl0: candidate on another link",
			[]Tunnel{tunl0, tun("W", anyIP, anyIP, eth0)}, S, D, eth1, "W"},
		{"12 external device takes the unmatched before tunl0",
			[]Tunnel{tunl0, {Name: "X", External: true}}, S, D, eth0, "X"},
		{"13 everything down: none",
			[]Tunnel{downed(tunl0), downed(tun("A", D, S, 0))}, S, D, eth0, ""},
		{"source 0.0.0.0 meets no remote-keyed phase (FuzzDecap found it matching an empty slot)",
			[]Tunnel{tunl0, tun("B", anyIP, S, eth1)}, anyIP, D, eth1, "tunl0"},
		{"destination 0.0.0.0 meets no local-keyed phase",
			[]Tunnel{tunl0, tun("C", D, anyIP, eth1)}, S, anyIP, eth1, "tunl0"},
		{"14 mode is not looked at: the mplsip tunnel is selected",
			[]Tunnel{{Name: "A", Local: D, Remote: S, Mode: 137}}, S, D, eth0, "A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table, err := NewTunnelTable(tt.tunnels)
			if err != nil {
				t.Fatal(err)
			}
			i := table.Lookup(addr32(tt.src), addr32(tt.dst), tt.link)
			got := ""
			if i != None {
				got = table.Tunnel(i).Name
			}
			if got != tt.want {
				t.Errorf("Lookup(%s, %s, %d) = %q, want %q", tt.src, tt.dst, tt.link, got, tt.want)
			}
			if ref := referenceLookup(tt.tunnels, addr32(tt.src), addr32(tt.dst), tt.link); ref != i {
				t.Errorf("reference lookup = %d, table = %d", ref, i)
			}
		})
	}
}

// TestSeedSecondTunnel is the last experiment of the seed walk-through: node1
// (D) makes its own tunnel "tunl1" bound to its underlay instead of using the
// fallback, then gives it a local. The walk-through, written on a kernel
// before v5.7, found node2 (S) unreachable until the local was set, because
// ip_tunnel_lookup skipped the wildcard phase for key-less tunnels. Commit
// 25629fdaff2f (v5.7) restored that phase, so on the kernels ipipd follows
// the bound wildcard receives already; what still makes the peer unreachable
// is a tunnel whose identity the packet cannot meet, like one with another
// remote, and setting local (with no remote) is what makes it reachable.
func TestSeedSecondTunnel(t *testing.T) {
	node3 := netip.MustParseAddr("10.245.1.4")
	steps := []struct {
		name    string
		tunnels []Tunnel
		want    string
	}{
		{"tunl1 aimed at node3, no local, no fallback: node2 unreachable",
			[]Tunnel{tun("tunl1", anyIP, node3, 0)}, ""},
		{"tunl1 with local set: phase 3 takes node2",
			[]Tunnel{tun("tunl1", D, anyIP, 0)}, "tunl1"},
		{"tunl1 bound to eth0 without local: the v5.7 wildcard phase takes node2",
			[]Tunnel{tun("tunl1", anyIP, anyIP, eth0)}, "tunl1"},
		{"the fallback itself down, nothing else: unreachable",
			[]Tunnel{downed(tun("tunl1", anyIP, anyIP, 0))}, ""},
	}
	for _, s := range steps {
		table, err := NewTunnelTable(s.tunnels)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if i := table.Lookup(addr32(S), addr32(D), eth0); i != None {
			got = table.Tunnel(i).Name
		}
		if got != s.want {
			t.Errorf("%s: got %q, want %q", s.name, got, s.want)
		}
	}
}

func TestDuplicateIdentityIsRefused(t *testing.T) {
	tests := []struct {
		name    string
		tunnels []Tunnel
		names   []string
	}{
		{"same local and remote", []Tunnel{tun("a", D, S, 0), tun("b", D, S, 0)}, []string{`"a"`, `"b"`}},
		{"two fallbacks", []Tunnel{tunl0, {Name: "tunl1"}}, []string{`"tunl0"`, `"tunl1"`}},
		{"down tunnels keep their identity", []Tunnel{downed(tun("a", D, anyIP, 0)), tun("b", D, anyIP, 0)}, []string{`"a"`, `"b"`}},
		{"two external", []Tunnel{{Name: "x", External: true}, {Name: "y", External: true}}, []string{`"x"`, `"y"`}},
	}
	for _, tt := range tests {
		_, err := NewTunnelTable(tt.tunnels)
		var dup *DuplicateError
		if !errors.As(err, &dup) {
			t.Fatalf("%s: err = %v, want DuplicateError", tt.name, err)
		}
		for _, n := range tt.names {
			if !strings.Contains(err.Error(), n) {
				t.Errorf("%s: %q does not name %s", tt.name, err, n)
			}
		}
	}
	ok := [][]Tunnel{
		{tun("a", D, S, eth0), tun("b", D, S, eth1)}, // link is part of identity
		{tunl0, {Name: "x", External: true}},         // external shares the wildcard identity
	}
	for _, tunnels := range ok {
		if _, err := NewTunnelTable(tunnels); err != nil {
			t.Errorf("%v: unexpected %v", tunnels, err)
		}
	}
}

// TestAgainstReference compares the indexed table with the literal
// transcription on random tables built from a small pool of addresses and
// links, so that every phase and tie meets every other.
func TestAgainstReference(t *testing.T) {
	addrs := []netip.Addr{anyIP, S, S2, D, X, M, netip.MustParseAddr("224.0.0.9")}
	links := []int{0, 0, eth0, eth1}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 3000; round++ {
		var tunnels []Tunnel
		seen := map[[3]any]bool{}
		for n := rng.IntN(7); len(tunnels) < n; {
			tu := Tunnel{
				Name:   string(rune('a' + len(tunnels))),
				Local:  addrs[rng.IntN(5)], // locals are never multicast
				Remote: addrs[rng.IntN(len(addrs))],
				Link:   links[rng.IntN(len(links))],
				Down:   rng.IntN(6) == 0,
			}
			if rng.IntN(12) == 0 {
				tu = Tunnel{Name: tu.Name, External: true, Down: tu.Down}
			}
			id := [3]any{addr32(tu.Local), addr32(tu.Remote), tu.Link}
			if tu.External {
				id = [3]any{"external"}
			}
			if seen[id] {
				continue
			}
			seen[id] = true
			tunnels = append(tunnels, tu)
		}
		table, err := NewTunnelTable(tunnels)
		if err != nil {
			t.Fatal(err)
		}
		// Sources and destinations of 0.0.0.0 are left out: IP input drops
		// them as martians before any tunnel code (decap does the same), and
		// the kernel's phases would read them as wildcards.
		for _, src := range addrs[1:5] {
			for _, dst := range addrs[1:] {
				for _, link := range []int{eth0, eth1, 7} {
					got := table.Lookup(addr32(src), addr32(dst), link)
					want := referenceLookup(tunnels, addr32(src), addr32(dst), link)
					if got != want {
						t.Fatalf("tunnels %+v\npacket (%s, %s, %d): table %d, reference %d", tunnels, src, dst, link, got, want)
					}
				}
			}
		}
	}
}

func TestTunnelLookupAllocatesNothing(t *testing.T) {
	table, err := NewTunnelTable([]Tunnel{tunl0, tun("A", D, S, eth0), tun("W", anyIP, anyIP, eth1)})
	if err != nil {
		t.Fatal(err)
	}
	src, dst := addr32(S), addr32(D)
	allocs := testing.AllocsPerRun(1000, func() {
		table.Lookup(src, dst, eth0)
		table.Lookup(src, dst, eth1)
		table.Lookup(src, dst, 9)
	})
	if allocs != 0 {
		t.Errorf("Lookup allocates %.1f times per run, want 0", allocs)
	}
}

package config

import (
	"errors"
	"io/fs"
	"net/netip"
	"reflect"
	"testing"
)

// TestLoadExample loads DESIGN.md's node1 file and checks every field,
// defaults included.
func TestLoadExample(t *testing.T) {
	const path = "testdata/mesh-node1.yaml"
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{Path: path, Tunnels: []Tunnel{
		{
			Name: "tunl0", Line: 3,
			MTU: 1480, TOSInherit: true,
			PMTUDisc: false, // the fallback defaults as tunl0: nopmtudisc
			ECN:      ECNKernel, TUN: TUNOffload,
			Addresses: []netip.Prefix{netip.MustParsePrefix("192.168.41.0/32")},
			Routes: []Route{
				{To: netip.MustParsePrefix("192.168.42.0/24"), Via: netip.MustParseAddr("10.245.1.3"), Line: 10},
				{To: netip.MustParsePrefix("192.168.43.0/24"), Via: netip.MustParseAddr("10.245.1.4"), Line: 11},
			},
		},
		{
			Name: "ipiptun", Line: 12,
			Local: netip.MustParseAddr("10.3.3.3"), Remote: netip.MustParseAddr("10.4.4.4"),
			TTL: 64, PMTUDisc: true,
			ECN: ECNKernel, TUN: TUNOffload,
			Addresses: []netip.Prefix{netip.MustParsePrefix("172.16.0.1/30")},
			Routes:    []Route{{To: netip.MustParsePrefix("172.16.9.0/24"), Line: 17}},
		},
	}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got\n%+v\nwant\n%+v", c, want)
	}
	if !c.Tunnels[0].IsFallback() || c.Tunnels[1].IsFallback() {
		t.Errorf("IsFallback: tunl0 %v, ipiptun %v; want true, false", c.Tunnels[0].IsFallback(), c.Tunnels[1].IsFallback())
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/no-such-file.yaml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want fs.ErrNotExist", err)
	}
}

// TestDefaults checks the values a tunnel gets from what the file leaves
// out or says in other words.
func TestDefaults(t *testing.T) {
	ip := netip.MustParseAddr
	tests := []struct {
		name string
		yaml string
		want func(Tunnel) bool
	}{
		{"point-to-point: pmtudisc on, as iproute2", "{name: t, remote: 10.4.4.4}",
			func(t Tunnel) bool { return t.PMTUDisc && t.TTL == 0 && t.TOS == 0 && !t.TOSInherit && t.MTU == 0 }},
		{"fallback: nopmtudisc, as tunl0", "{name: t}",
			func(t Tunnel) bool { return t.IsFallback() && !t.PMTUDisc }},
		{"fallback with a fixed ttl: DF forced, as ip_tunnel_ctl", "{name: t, ttl: 64}",
			func(t Tunnel) bool { return t.IsFallback() && t.PMTUDisc && t.TTL == 64 }},
		{"fallback may turn pmtudisc on", "{name: t, pmtudisc: true}",
			func(t Tunnel) bool { return t.IsFallback() && t.PMTUDisc }},
		{"point-to-point may turn pmtudisc off", "{name: t, remote: 10.4.4.4, pmtudisc: false}",
			func(t Tunnel) bool { return !t.PMTUDisc }},
		{"dev only: not the fallback", "{name: t, dev: eth0}",
			func(t Tunnel) bool { return !t.IsFallback() && t.Dev == "eth0" && t.PMTUDisc }},
		{"0.0.0.0 means any", "{name: t, local: 0.0.0.0, remote: 0.0.0.0}",
			func(t Tunnel) bool { return !t.Local.IsValid() && !t.Remote.IsValid() && t.IsFallback() }},
		{"multicast remote: phase 3 of ip_tunnel_lookup", "{name: t, local: 10.3.3.3, remote: 239.1.1.1}",
			func(t Tunnel) bool { return t.Remote == ip("239.1.1.1") }},
		{"tos in hex", "{name: t, remote: 10.4.4.4, tos: 0x10}",
			func(t Tunnel) bool { return t.TOS == 0x10 && !t.TOSInherit }},
		{"tos with ECN bits: accepted, they never reach the wire", "{name: t, remote: 10.4.4.4, tos: 2}",
			func(t Tunnel) bool { return t.TOS == 2 }},
		{"ttl 255", "{name: t, remote: 10.4.4.4, ttl: 255}",
			func(t Tunnel) bool { return t.TTL == 255 }},
		{"mtu bounds", "{name: t, remote: 10.4.4.4, mtu: 65515}",
			func(t Tunnel) bool { return t.MTU == 65515 }},
		{"ecn rfc6040", "{name: t, remote: 10.4.4.4, ecn: rfc6040}",
			func(t Tunnel) bool { return t.ECN == ECNRFC6040 }},
		{"table by name", "{name: t, table: main}",
			func(t Tunnel) bool { return t.Table == 254 }},
		{"table by number", "{name: t, table: 100}",
			func(t Tunnel) bool { return t.Table == 100 }},
		{"tun offload", "{name: t, remote: 10.4.4.4, tun: offload}",
			func(t Tunnel) bool { return t.TUN == TUNOffload }},
		{"via equal to the remote is allowed", "{name: t, remote: 10.4.4.4, routes: [{to: 10.9.0.0/16, via: 10.4.4.4}]}",
			func(t Tunnel) bool { return t.Routes[0].Via == ip("10.4.4.4") }},
		{"via left out stays zero", "{name: t, routes: [{to: 10.9.9.9/32}]}",
			func(t Tunnel) bool { return !t.Routes[0].Via.IsValid() }},
		{"default route", "{name: t, remote: 10.4.4.4, routes: [{to: 0.0.0.0/0}]}",
			func(t Tunnel) bool { return t.Routes[0].To == netip.MustParsePrefix("0.0.0.0/0") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("f.yaml", []byte("tunnels: ["+tt.yaml+"]"))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(c.Tunnels[0]) {
				t.Errorf("got %+v", c.Tunnels[0])
			}
		})
	}
}

// TestAliases checks that a value shared with an anchor is read where the
// alias stands.
func TestAliases(t *testing.T) {
	const file = `
tunnels:
  - {name: a, local: &me 10.3.3.3, remote: 10.4.4.4, ttl: &ttl 64}
  - {name: b, local: *me, remote: 10.5.5.5, ttl: *ttl}
`
	c, err := Parse("f.yaml", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	if b := c.Tunnels[1]; b.Local != netip.MustParseAddr("10.3.3.3") || b.TTL != 64 {
		t.Errorf("got %+v, want local 10.3.3.3 and ttl 64", b)
	}
}

package config

import (
	"slices"
	"strings"
	"testing"
)

func TestAcceptFrom(t *testing.T) {
	for _, c := range []struct {
		name, value string
		want        []string // Words; nil: off
		err         string   // part of the one error, with its line
	}{
		{"absent is off", "", nil, ""},
		{"any", "any", nil, ""},
		{"known", "known", []string{"known"}, ""},
		{"prefixes", "[10.245.1.0/24, 10.9.9.9/32]", []string{"10.245.1.0/24", "10.9.9.9/32"}, ""},
		{"known and a prefix", "[known, 10.245.2.0/24]", []string{"known", "10.245.2.0/24"}, ""},
		{"a word", "peers", nil, `node.yaml:4:18: tunnels[0].accept_from: "peers" is not accepted; want "any"`},
		{"a bare address", "[10.9.9.9]", nil, "node.yaml:4:19: tunnels[0].accept_from[0]: 10.9.9.9 is an address; want a prefix in CIDR form like 10.9.9.9/32"},
		{"host bits", "[10.245.1.1/24]", nil, "tunnels[0].accept_from[0]: 10.245.1.1/24 has bits set after the prefix length; want 10.245.1.0/24"},
		{"twice", "[10.0.0.0/8, 10.0.0.0/8]", nil, "is listed twice (first at line 4)"},
		{"empty", "[]", nil, "empty list: it would admit no peer"},
		{"IPv6", "[2001:db8::/32]", nil, "is IPv6"},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := "tunnels:\n  - name: tunl0\n    mtu: 1480\n"
			if c.value != "" {
				file += "    accept_from: " + c.value + "\n"
			}
			cfg, err := Parse("node.yaml", []byte(file))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("Parse = %v, want an error containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a := cfg.Tunnels[0].AcceptFrom
			if got := a.Words(); !slices.Equal(got, c.want) || a.On() != (c.want != nil) {
				t.Errorf("AcceptFrom %v (on %v), want %v", got, a.On(), c.want)
			}
		})
	}
}

package config

import (
	"slices"
	"testing"
)

// Routes that send outer packets back into a tunnel are warned about, and
// the file is still accepted: a longer route elsewhere may carry them.
func TestWarningsForLoopingRoutes(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"a route covering a via", "tunnels:\n  - {name: tunl0, routes: [{to: 192.168.42.0/24, via: 10.245.1.3}, {to: 10.245.0.0/16, via: 10.245.1.4}]}\n",
			[]string{
				`f.yaml:2:73: tunnels[0].routes[1].to: 10.245.0.0/16 covers 10.245.1.3, the via of tunnels[0].routes[0] (line 2): outer packets to it would be routed back into tunnel "tunl0" and dropped (collisions) unless a longer route elsewhere carries them`,
				`f.yaml:2:73: tunnels[0].routes[1].to: 10.245.0.0/16 covers 10.245.1.4, the via of tunnels[0].routes[1] (line 2): outer packets to it would be routed back into tunnel "tunl0" and dropped (collisions) unless a longer route elsewhere carries them`,
			}},
		{"a route covering a remote", "tunnels:\n  - {name: p, remote: 10.4.4.4, routes: [{to: 10.0.0.0/8}]}\n",
			[]string{`f.yaml:2:47: tunnels[0].routes[0].to: 10.0.0.0/8 covers 10.4.4.4, the remote of tunnel "p": outer packets to it would be routed back into tunnel "p" and dropped (collisions) unless a longer route elsewhere carries them`}},
		{"no via on a tunnel without remote", "tunnels:\n  - {name: tunl0, routes: [{to: 192.168.42.0/24}]}\n",
			[]string{`f.yaml:2:33: tunnels[0].routes[0].to: 192.168.42.0/24 has no via on tunnel "tunl0", which has no remote: the outer destination is the inner one, which this route sends back into the tunnel, so every packet loops and is dropped (collisions) unless another route carries it; give a via (the peer's underlay address)`}},
		{"the seed's routes", "tunnels:\n  - {name: tunl0, routes: [{to: 192.168.42.0/24, via: 10.245.1.3}, {to: 192.168.43.0/24, via: 10.245.1.4}]}\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("f.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatalf("refused: %v; a warning must not refuse the file", err)
			}
			var got []string
			for _, w := range c.Warnings {
				got = append(got, w.Error())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("warnings\n got  %q\n want %q", got, tt.want)
			}
		})
	}
}

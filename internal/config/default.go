package config

// Default is the configuration of `ipipd run` without a file: what `modprobe
// ipip` gives a network namespace (ipip_init_net): the fallback device
// tunl0, down, MTU 1480, no address, no route, ttl inherit, tos 0,
// nopmtudisc. Everything else comes from ip(8) and routing daemons, as with
// the kernel's module: `ip link set tunl0 up`, `ip addr add … dev tunl0`,
// `ip route add … via … dev tunl0 onlink`.
func Default() *Config {
	return &Config{
		Path: "(no file: the fallback tunl0, as modprobe ipip creates it)",
		Tunnels: []Tunnel{{
			Name: "tunl0",
			MTU:  1480,
			TUN:  TUNOffload,
			Down: true,
		}},
	}
}

package config

import (
	"errors"
	"testing"
)

// TestErrors pins every refusal: the position, the field, and the wording,
// which must say what is wrong and what would be accepted. Each case is a
// whole file named f.yaml; want lists every problem of the file, in order.
func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "a route equal to an address's subnet, which the kernel adds itself",
			yaml: "tunnels:\n  - {name: t, addresses: [172.16.0.1/30], routes: [{to: 172.16.0.0/30}]}\n",
			want: []string{
				`f.yaml:2:57: tunnels[0].routes[0].to: 172.16.0.0/30 is the subnet of an address of tunnel "t", whose route the kernel adds by itself with the address; leave this route out`,
			},
		},
		{
			name: "via on a tunnel with a remote would be ignored by the kernel",
			yaml: "tunnels:\n  - {name: t, remote: 10.4.4.4, routes: [{to: 10.9.0.0/16, via: 10.4.4.5}]}\n",
			want: []string{
				`f.yaml:2:65: tunnels[0].routes[0].via: tunnel "t" has remote 10.4.4.4 and sends every packet there, as the kernel ignores a route's gateway on a tunnel with a remote; leave via out, or use a tunnel without remote to route by gateway`,
			},
		},
		{
			name: "the local table, and table 0",
			yaml: "tunnels:\n  - {name: t, table: local}\n  - {name: u, local: 10.1.1.1, table: 0}\n",
			want: []string{
				`f.yaml:2:22: tunnels[0].table: the local table holds the kernel's own local and broadcast routes; want main, default, or a table number 1..2147483647 other than 255 (local)`,
				`f.yaml:3:39: tunnels[1].table: 0 cannot hold a tunnel's routes; want main, default, or a table number 1..2147483647 other than 255 (local)`,
			},
		},
		{
			name: "syntax: yaml's line",
			yaml: "tunnels:\n  - name: a\n    ttl: 64: 3\n",
			want: []string{
				"f.yaml:3: YAML syntax error: mapping values are not allowed in this context; want valid YAML: indent with spaces, not tabs, and quote values that contain ': ' or start with a special character",
			},
		},
		{
			name: "syntax: tab located",
			yaml: "tunnels:\n  - name: a\n\tttl: 64\n",
			want: []string{
				"f.yaml:3:1: YAML syntax error: found a tab character that violates indentation; want valid YAML: indent with spaces, not tabs, and quote values that contain ': ' or start with a special character",
			},
		},
		{
			// yaml.v3's parser counts this line from 0: the list opens on line 3.
			name: "syntax: unclosed flow list",
			yaml: "tunnels:\n  - name: a\n    routes: [{to: 10.0.0.0/8}\n",
			want: []string{
				"f.yaml:2: YAML syntax error: did not find expected ',' or ']'; want valid YAML: indent with spaces, not tabs, and quote values that contain ': ' or start with a special character",
			},
		},
		{
			name: "syntax: unknown anchor",
			yaml: "tunnels:\n  - name: a\n    ttl: *nope\n",
			want: []string{
				"f.yaml: YAML syntax error: unknown anchor 'nope' referenced; want valid YAML: indent with spaces, not tabs, and quote values that contain ': ' or start with a special character",
			},
		},
		{
			name: "empty file",
			yaml: "",
			want: []string{
				"f.yaml: the file is empty; want a mapping with a tunnels list, like \"tunnels: [{name: tun0, remote: 192.0.2.1}]\"",
			},
		},
		{
			name: "only comments",
			yaml: "# nothing yet\n",
			want: []string{
				"f.yaml: the file is empty; want a mapping with a tunnels list, like \"tunnels: [{name: tun0, remote: 192.0.2.1}]\"",
			},
		},
		{
			name: "empty document",
			yaml: "---\n",
			want: []string{
				"f.yaml:2:1: the top level: no value; want a mapping with a tunnels list, like \"tunnels: [{name: tun0, remote: 192.0.2.1}]\"",
			},
		},
		{
			name: "two documents",
			yaml: "tunnels: [{name: a}]\n---\ntunnels: [{name: b}]\n",
			want: []string{
				"f.yaml:2:1: a second YAML document starts here; want one document per file",
			},
		},
		{
			name: "top level a list",
			yaml: "- name: a\n",
			want: []string{
				"f.yaml:1:1: the top level: got a list; want a mapping with a tunnels list, like \"tunnels: [{name: tun0, remote: 192.0.2.1}]\"",
			},
		},
		{
			name: "top level a scalar",
			yaml: "hello\n",
			want: []string{
				"f.yaml:1:1: the top level: got \"hello\"; want a mapping with a tunnels list, like \"tunnels: [{name: tun0, remote: 192.0.2.1}]\"",
			},
		},
		{
			name: "tunnels missing, typo",
			yaml: "tunnel:\n  - name: a\n",
			want: []string{
				"f.yaml:1:1: unknown key \"tunnel\"; did you mean \"tunnels\"? Accepted keys: tunnels",
				"f.yaml:1:1: tunnels: missing; want a mapping with a tunnels list, like \"tunnels: [{name: tun0, remote: 192.0.2.1}]\"",
			},
		},
		{
			name: "tunnels empty",
			yaml: "tunnels: []\n",
			want: []string{
				"f.yaml:1:10: tunnels: empty list; want at least one tunnel, like \"- {name: tun0, remote: 192.0.2.1}\"",
			},
		},
		{
			name: "tunnels null",
			yaml: "tunnels:\n",
			want: []string{
				"f.yaml:1:9: tunnels: no value; want a list of tunnels, each a mapping starting with \"- name: \"",
			},
		},
		{
			name: "tunnels a mapping",
			yaml: "tunnels:\n  name: a\n",
			want: []string{
				"f.yaml:2:3: tunnels: got a mapping; want a list of tunnels, each a mapping starting with \"- name: \"",
			},
		},
		{
			name: "tunnel item a scalar",
			yaml: "tunnels:\n  - tunl0\n",
			want: []string{
				"f.yaml:2:5: tunnels[0]: got \"tunl0\"; want a mapping with name and the tunnel's keys, like \"{name: tun0, remote: 192.0.2.1}\"",
			},
		},
		{
			name: "unknown key, typo of remote",
			yaml: "tunnels:\n  - name: a\n    remtoe: 10.4.4.4\n",
			want: []string{
				"f.yaml:3:5: tunnels[0]: unknown key \"remtoe\"; did you mean \"remote\"? Accepted keys: name, local, remote, dev, mtu, ttl, tos, pmtudisc, ecn, tun, table, accept_from, addresses, routes",
			},
		},
		{
			name: "unknown key, case",
			yaml: "tunnels:\n  - name: a\n    TTL: 64\n",
			want: []string{
				"f.yaml:3:5: tunnels[0]: unknown key \"TTL\"; did you mean \"ttl\"? Accepted keys: name, local, remote, dev, mtu, ttl, tos, pmtudisc, ecn, tun, table, accept_from, addresses, routes",
			},
		},
		{
			name: "unknown key, no suggestion",
			yaml: "tunnels:\n  - name: a\n    colour: blue\n",
			want: []string{
				"f.yaml:3:5: tunnels[0]: unknown key \"colour\"; accepted keys: name, local, remote, dev, mtu, ttl, tos, pmtudisc, ecn, tun, table, accept_from, addresses, routes",
			},
		},
		{
			name: "unknown key in a route",
			yaml: "tunnels:\n  - name: a\n    routes: [{to: 10.0.0.0/8, vai: 10.1.1.1}]\n",
			want: []string{
				"f.yaml:3:31: tunnels[0].routes[0]: unknown key \"vai\"; did you mean \"via\"? Accepted keys: to, via",
			},
		},
		{
			name: "repeated key",
			yaml: "tunnels:\n  - name: a\n    ttl: 64\n    ttl: 32\n",
			want: []string{
				"f.yaml:4:5: tunnels[0]: key \"ttl\" is given twice (first at line 3); want each key once",
			},
		},
		{
			name: "merge key",
			yaml: "tunnels:\n  - &base {name: a, ttl: 64}\n  - <<: *base\n    name: b\n    remote: 10.4.4.4\n",
			want: []string{
				"f.yaml:3:5: tunnels[1]: merge keys (<<) are not supported; write the keys out. Accepted keys: name, local, remote, dev, mtu, ttl, tos, pmtudisc, ecn, tun, table, accept_from, addresses, routes",
			},
		},
		{
			name: "key not a word",
			yaml: "tunnels:\n  - name: a\n    ? [x]\n    : 1\n",
			want: []string{
				"f.yaml:3:7: tunnels[0]: a key must be a plain word (got a list); accepted keys: name, local, remote, dev, mtu, ttl, tos, pmtudisc, ecn, tun, table, accept_from, addresses, routes",
			},
		},
		{
			name: "local garbage",
			yaml: "tunnels:\n  - name: a\n    local: my-host\n",
			want: []string{
				"f.yaml:3:12: tunnels[0].local: \"my-host\" is not an IPv4 address; want an IPv4 address like 10.3.3.3",
			},
		},
		{
			name: "remote IPv6",
			yaml: "tunnels:\n  - name: a\n    remote: 2001:db8::4\n",
			want: []string{
				"f.yaml:3:13: tunnels[0].remote: 2001:db8::4 is IPv6; ipip carries IPv4 in IPv4 only (IPv6 in IPv4 is sit); want an IPv4 address like 10.4.4.4",
			},
		},
		{
			name: "remote IPv4-mapped IPv6",
			yaml: "tunnels:\n  - name: a\n    remote: ::ffff:10.4.4.4\n",
			want: []string{
				"f.yaml:3:13: tunnels[0].remote: ::ffff:10.4.4.4 is an IPv4-mapped IPv6 address; want an IPv4 address like 10.4.4.4 (write 10.4.4.4)",
			},
		},
		{
			name: "remote given as a prefix",
			yaml: "tunnels:\n  - name: a\n    remote: 10.4.4.4/32\n",
			want: []string{
				"f.yaml:3:13: tunnels[0].remote: 10.4.4.4/32 is a prefix; want an IPv4 address like 10.4.4.4, without /length",
			},
		},
		{
			name: "remote broadcast",
			yaml: "tunnels:\n  - name: a\n    remote: 255.255.255.255\n",
			want: []string{
				"f.yaml:3:13: tunnels[0].remote: 255.255.255.255 is the broadcast address; want the peer's unicast address or a multicast group, or leave it out for any",
			},
		},
		{
			name: "local multicast",
			yaml: "tunnels:\n  - name: a\n    local: 239.1.1.1\n    remote: 10.4.4.4\n",
			want: []string{
				"f.yaml:3:12: tunnels[0].local: 239.1.1.1 is multicast; want a unicast address of this host, or leave local out for any",
			},
		},
		{
			name: "local a list",
			yaml: "tunnels:\n  - name: a\n    local: [10.3.3.3]\n",
			want: []string{
				"f.yaml:3:12: tunnels[0].local: got a list; want an IPv4 address like 10.3.3.3",
			},
		},
		{
			name: "address without length",
			yaml: "tunnels:\n  - name: a\n    addresses: [10.0.0.1]\n",
			want: []string{
				"f.yaml:3:17: tunnels[0].addresses[0]: 10.0.0.1 is an address; want a prefix in CIDR form like 10.0.0.1/32",
			},
		},
		{
			name: "address bad length",
			yaml: "tunnels:\n  - name: a\n    addresses: [10.0.0.1/33]\n",
			want: []string{
				"f.yaml:3:17: tunnels[0].addresses[0]: \"10.0.0.1/33\" is not an IPv4 prefix; want an IPv4 prefix in CIDR form like 172.16.0.1/30",
			},
		},
		{
			name: "address IPv6",
			yaml: "tunnels:\n  - name: a\n    addresses: [2001:db8::1/64]\n",
			want: []string{
				"f.yaml:3:17: tunnels[0].addresses[0]: 2001:db8::1/64 is IPv6; ipip carries IPv4 in IPv4 only (IPv6 in IPv4 is sit); want an IPv4 prefix in CIDR form like 172.16.0.1/30",
			},
		},
		{
			name: "address multicast",
			yaml: "tunnels:\n  - name: a\n    addresses: [224.0.0.1/32]\n",
			want: []string{
				"f.yaml:3:17: tunnels[0].addresses[0]: 224.0.0.1/32 is not an interface address; want a unicast IPv4 address with its prefix length, like 172.16.0.1/30",
			},
		},
		{
			name: "address twice",
			yaml: "tunnels:\n  - name: a\n    addresses:\n      - 10.0.0.1/24\n      - 10.0.0.1/24\n",
			want: []string{
				"f.yaml:5:9: tunnels[0].addresses[1]: 10.0.0.1/24 is listed twice (first at line 4); want each address once",
			},
		},
		{
			name: "addresses not a list",
			yaml: "tunnels:\n  - name: a\n    addresses: 10.0.0.1/24\n",
			want: []string{
				"f.yaml:3:16: tunnels[0].addresses: got \"10.0.0.1/24\"; want a list of IPv4 prefixes, like [172.16.0.1/30]",
			},
		},
		{
			name: "route to a bare address",
			yaml: "tunnels:\n  - name: a\n    routes: [{to: 10.9.9.9}]\n",
			want: []string{
				"f.yaml:3:19: tunnels[0].routes[0].to: 10.9.9.9 is an address; want a prefix in CIDR form like 10.9.9.9/32",
			},
		},
		{
			name: "route to with host bits",
			yaml: "tunnels:\n  - name: a\n    routes: [{to: 192.168.42.1/24}]\n",
			want: []string{
				"f.yaml:3:19: tunnels[0].routes[0].to: 192.168.42.1/24 has host bits set; want the network prefix 192.168.42.0/24",
			},
		},
		{
			name: "route to IPv6",
			yaml: "tunnels:\n  - name: a\n    routes: [{to: 2001:db8::/32}]\n",
			want: []string{
				"f.yaml:3:19: tunnels[0].routes[0].to: 2001:db8::/32 is IPv6; ipip carries IPv4 in IPv4 only (IPv6 in IPv4 is sit); want an IPv4 prefix in CIDR form like 192.168.42.0/24",
			},
		},
		{
			name: "route to missing",
			yaml: "tunnels:\n  - name: a\n    routes: [{via: 10.245.1.3}]\n",
			want: []string{
				"f.yaml:3:14: tunnels[0].routes[0].to: missing; want the inner destination prefix, like to: 192.168.42.0/24",
			},
		},
		{
			name: "route not a mapping",
			yaml: "tunnels:\n  - name: a\n    routes: [10.0.0.0/8]\n",
			want: []string{
				"f.yaml:3:14: tunnels[0].routes[0]: got \"10.0.0.0/8\"; want a mapping like {to: 192.168.42.0/24, via: 10.245.1.3}",
			},
		},
		{
			name: "via 0.0.0.0",
			yaml: "tunnels:\n  - name: a\n    routes: [{to: 10.0.0.0/8, via: 0.0.0.0}]\n",
			want: []string{
				"f.yaml:3:36: tunnels[0].routes[0].via: 0.0.0.0 cannot be a next hop; want a unicast IPv4 address of a peer, like 10.245.1.3, or leave via out for the tunnel's remote (or, without one, the inner destination)",
			},
		},
		{
			name: "via multicast",
			yaml: "tunnels:\n  - name: a\n    routes: [{to: 10.0.0.0/8, via: 224.0.0.5}]\n",
			want: []string{
				"f.yaml:3:36: tunnels[0].routes[0].via: 224.0.0.5 cannot be a next hop; want a unicast IPv4 address of a peer, like 10.245.1.3, or leave via out for the tunnel's remote (or, without one, the inner destination)",
			},
		},
		{
			name: "via broadcast on a point-to-point tunnel",
			yaml: "tunnels:\n  - name: a\n    remote: 10.4.4.4\n    routes: [{to: 10.0.0.0/8, via: 255.255.255.255}]\n",
			want: []string{
				"f.yaml:4:36: tunnels[0].routes[0].via: 255.255.255.255 cannot be a next hop; want a unicast IPv4 address of a peer, like 10.245.1.3, or leave via out for the tunnel's remote (or, without one, the inner destination)",
			},
		},
		{
			name: "via IPv6",
			yaml: "tunnels:\n  - name: a\n    routes: [{to: 10.0.0.0/8, via: \"fe80::1\"}]\n",
			want: []string{
				"f.yaml:3:36: tunnels[0].routes[0].via: fe80::1 is IPv6; ipip carries IPv4 in IPv4 only (IPv6 in IPv4 is sit); want an IPv4 address like 10.245.1.3",
			},
		},
		{
			name: "ttl 0",
			yaml: "tunnels:\n  - name: a\n    ttl: 0\n",
			want: []string{
				"f.yaml:3:10: tunnels[0].ttl: 0 is not a TTL; want 1..255, or \"inherit\" to copy the inner TTL",
			},
		},
		{
			name: "ttl 300",
			yaml: "tunnels:\n  - name: a\n    ttl: 300\n",
			want: []string{
				"f.yaml:3:10: tunnels[0].ttl: 300 is out of range; want 1..255 or \"inherit\"",
			},
		},
		{
			name: "ttl negative",
			yaml: "tunnels:\n  - name: a\n    ttl: -1\n",
			want: []string{
				"f.yaml:3:10: tunnels[0].ttl: -1 is out of range; want 1..255 or \"inherit\"",
			},
		},
		{
			name: "ttl a word",
			yaml: "tunnels:\n  - name: a\n    ttl: default\n",
			want: []string{
				"f.yaml:3:10: tunnels[0].ttl: \"default\" is not a number; want 1..255 or \"inherit\"",
			},
		},
		{
			name: "ttl empty",
			yaml: "tunnels:\n  - name: a\n    ttl:\n",
			want: []string{
				"f.yaml:3:9: tunnels[0].ttl: no value; want 1..255 or \"inherit\"",
			},
		},
		{
			name: "ttl huge",
			yaml: "tunnels:\n  - name: a\n    ttl: 99999999999999999999\n",
			want: []string{
				"f.yaml:3:10: tunnels[0].ttl: 99999999999999999999 is out of range; want 1..255 or \"inherit\"",
			},
		},
		{
			name: "tos odd",
			yaml: "tunnels:\n  - name: a\n    tos: 5\n",
			want: []string{
				"f.yaml:3:10: tunnels[0].tos: 5 has bit 0 set, which iproute2 and the kernel read as \"inherit\"; want \"inherit\", or an even value 0..254 for a fixed TOS",
			},
		},
		{
			name: "tos odd in hex",
			yaml: "tunnels:\n  - name: a\n    tos: 0x11\n",
			want: []string{
				"f.yaml:3:10: tunnels[0].tos: 0x11 has bit 0 set, which iproute2 and the kernel read as \"inherit\"; want \"inherit\", or an even value 0..254 for a fixed TOS",
			},
		},
		{
			name: "tos 256",
			yaml: "tunnels:\n  - name: a\n    tos: 256\n",
			want: []string{
				"f.yaml:3:10: tunnels[0].tos: 256 is out of range; want \"inherit\" or an even value 0..254 (decimal or 0x hex)",
			},
		},
		{
			name: "tos bad hex",
			yaml: "tunnels:\n  - name: a\n    tos: 0x1g\n",
			want: []string{
				"f.yaml:3:10: tunnels[0].tos: \"0x1g\" is not a number; want \"inherit\" or an even value 0..254 (decimal or 0x hex)",
			},
		},
		{
			name: "mtu 67",
			yaml: "tunnels:\n  - name: a\n    mtu: 67\n",
			want: []string{
				"f.yaml:3:10: tunnels[0].mtu: 67 is out of range; want 68..65515, or leave mtu out for the underlay MTU - 20",
			},
		},
		{
			name: "mtu 65516",
			yaml: "tunnels:\n  - name: a\n    mtu: 65516\n",
			want: []string{
				"f.yaml:3:10: tunnels[0].mtu: 65516 is out of range; want 68..65515, or leave mtu out for the underlay MTU - 20",
			},
		},
		{
			name: "mtu 0",
			yaml: "tunnels:\n  - name: a\n    mtu: 0\n",
			want: []string{
				"f.yaml:3:10: tunnels[0].mtu: 0 is out of range; want 68..65515, or leave mtu out for the underlay MTU - 20",
			},
		},
		{
			name: "pmtudisc yes",
			yaml: "tunnels:\n  - name: a\n    pmtudisc: yes\n",
			want: []string{
				"f.yaml:3:15: tunnels[0].pmtudisc: \"yes\" is not a boolean; want true or false",
			},
		},
		{
			name: "fixed ttl with pmtudisc false",
			yaml: "tunnels:\n  - name: a\n    remote: 10.4.4.4\n    ttl: 64\n    pmtudisc: false\n",
			want: []string{
				"f.yaml:5:15: tunnels[0].pmtudisc: false with a fixed ttl (64) is refused, as iproute2 does (\"ttl != 0 and nopmtudisc are incompatible\"): the kernel would set DF anyway; want pmtudisc: true, or ttl: inherit",
			},
		},
		{
			name: "fallback fixed ttl with pmtudisc false",
			yaml: "tunnels:\n  - name: a\n    pmtudisc: false\n    ttl: 64\n",
			want: []string{
				"f.yaml:3:15: tunnels[0].pmtudisc: false with a fixed ttl (64) is refused, as iproute2 does (\"ttl != 0 and nopmtudisc are incompatible\"): the kernel would set DF anyway; want pmtudisc: true, or ttl: inherit",
			},
		},
		{
			name: "ecn unknown",
			yaml: "tunnels:\n  - name: a\n    ecn: rfc3168\n",
			want: []string{
				"f.yaml:3:10: tunnels[0].ecn: \"rfc3168\" is not accepted; want \"kernel\" or \"rfc6040\"",
			},
		},
		{
			name: "tun unknown",
			yaml: "tunnels:\n  - name: a\n    tun: tap\n",
			want: []string{
				"f.yaml:3:10: tunnels[0].tun: \"tap\" is not accepted; want \"water\" or \"offload\"",
			},
		},
		{
			name: "name missing",
			yaml: "tunnels:\n  - remote: 10.4.4.4\n",
			want: []string{
				"f.yaml:2:5: tunnels[0].name: missing; want a device name of 1..15 bytes without '/', ':', '%' or white space, like tunl0",
			},
		},
		{
			name: "name too long",
			yaml: "tunnels:\n  - name: ipip-to-datacenter-2\n",
			want: []string{
				"f.yaml:2:11: tunnels[0].name: \"ipip-to-datacenter-2\" is 20 bytes long; want at most 15 (IFNAMSIZ - 1)",
			},
		},
		{
			name: "name with slash",
			yaml: "tunnels:\n  - name: ipip/1\n",
			want: []string{
				"f.yaml:2:11: tunnels[0].name: \"ipip/1\" contains '/'; want a device name of 1..15 bytes without '/', ':', '%' or white space, like tunl0",
			},
		},
		{
			name: "name with colon",
			yaml: "tunnels:\n  - name: \"tun0:1\"\n",
			want: []string{
				"f.yaml:2:11: tunnels[0].name: \"tun0:1\" contains ':'; want a device name of 1..15 bytes without '/', ':', '%' or white space, like tunl0",
			},
		},
		{
			name: "name with space",
			yaml: "tunnels:\n  - name: \"ipip 1\"\n",
			want: []string{
				"f.yaml:2:11: tunnels[0].name: \"ipip 1\" contains ' '; want a device name of 1..15 bytes without '/', ':', '%' or white space, like tunl0",
			},
		},
		{
			name: "name dot-dot",
			yaml: "tunnels:\n  - name: \"..\"\n",
			want: []string{
				"f.yaml:2:11: tunnels[0].name: \"..\" is not a device name; want a device name of 1..15 bytes without '/', ':', '%' or white space, like tunl0",
			},
		},
		{
			name: "name empty",
			yaml: "tunnels:\n  - name: \"\"\n",
			want: []string{
				"f.yaml:2:11: tunnels[0].name: empty name; want a device name of 1..15 bytes without '/', ':', '%' or white space, like tunl0",
			},
		},
		{
			name: "name template",
			yaml: "tunnels:\n  - name: tun%d\n",
			want: []string{
				"f.yaml:2:11: tunnels[0].name: \"tun%d\" contains '%'; want a device name of 1..15 bytes without '/', ':', '%' or white space, like tunl0",
			},
		},
		{
			name: "dev names a tunnel",
			yaml: "tunnels:\n  - name: tunl0\n  - name: t1\n    dev: tunl0\n",
			want: []string{
				"f.yaml:4:10: tunnels[1].dev: \"tunl0\" is the TUN device of tunnel \"tunl0\" (line 2); want the underlay interface the outer packets leave by, like eth0",
			},
		},
		{
			name: "same name twice",
			yaml: "tunnels:\n  - name: tun0\n    remote: 10.4.4.4\n  - name: tun0\n    remote: 10.5.5.5\n",
			want: []string{
				"f.yaml:4:11: tunnels[1].name: device \"tun0\" is already the name of tunnel \"tun0\" (line 2); want a different name for each tunnel",
			},
		},
		{
			name: "same identity",
			yaml: "tunnels:\n  - name: a\n    local: 10.3.3.3\n    remote: 10.4.4.4\n  - name: b\n    local: 10.3.3.3\n    remote: 10.4.4.4\n",
			want: []string{
				"f.yaml:5:5: tunnels[1]: tunnel \"b\" (line 5) has the same identity (local 10.3.3.3, remote 10.4.4.4, dev none) as tunnel \"a\" (line 2); the kernel refuses a second tunnel of one identity (ip_tunnel_find: EEXIST); want a different local, remote or dev",
			},
		},
		{
			name: "same identity with dev",
			yaml: "tunnels:\n  - {name: a, remote: 10.4.4.4, dev: eth0}\n  - {name: b, remote: 10.4.4.4, dev: eth0}\n",
			want: []string{
				"f.yaml:3:5: tunnels[1]: tunnel \"b\" (line 3) has the same identity (local any, remote 10.4.4.4, dev eth0) as tunnel \"a\" (line 2); the kernel refuses a second tunnel of one identity (ip_tunnel_find: EEXIST); want a different local, remote or dev",
			},
		},
		{
			name: "two fallbacks",
			yaml: "tunnels:\n  - name: tunl0\n  - name: tunl1\n    local: 0.0.0.0\n",
			want: []string{
				"f.yaml:3:5: tunnels[1]: tunnel \"tunl0\" (line 2) and tunnel \"tunl1\" (line 3) are both the fallback tunnel (no local, no remote, no dev), like a second tunl0; the kernel refuses it (EEXIST); want one fallback: give this one a local, remote or dev",
			},
		},
		{
			name: "no false identity conflict from a bad local",
			yaml: "tunnels:\n  - name: tunl0\n  - name: t1\n    local: 10.3.3.300\n",
			want: []string{
				"f.yaml:4:12: tunnels[1].local: \"10.3.3.300\" is not an IPv4 address; want an IPv4 address like 10.3.3.3",
			},
		},
		{
			name: "same route in two tunnels",
			yaml: "tunnels:\n  - name: tunl0\n    routes: [{to: 10.9.0.0/16, via: 10.245.1.3}]\n  - name: t1\n    remote: 10.4.4.4\n    routes: [{to: 10.9.0.0/16}]\n",
			want: []string{
				"f.yaml:6:19: tunnels[1].routes[0].to: 10.9.0.0/16 is already routed at line 3, through tunnel \"tunl0\"; want each prefix once in the file, else which tunnel carries it is ambiguous",
			},
		},
		{
			name: "same route in one tunnel",
			yaml: "tunnels:\n  - name: tunl0\n    routes:\n      - {to: 10.9.0.0/16, via: 10.245.1.3}\n      - {to: 10.9.0.0/16, via: 10.245.1.4}\n",
			want: []string{
				"f.yaml:5:14: tunnels[0].routes[1].to: 10.9.0.0/16 is already routed at line 4, through tunnel \"tunl0\"; want each prefix once in the file, else which tunnel carries it is ambiguous",
			},
		},
		{
			name: "every problem reported",
			yaml: "tunnels:\n  - name: a\n    ttl: 300\n    tos: 3\n  - name: a\n    mtu: 1\n",
			want: []string{
				"f.yaml:3:10: tunnels[0].ttl: 300 is out of range; want 1..255 or \"inherit\"",
				"f.yaml:4:10: tunnels[0].tos: 3 has bit 0 set, which iproute2 and the kernel read as \"inherit\"; want \"inherit\", or an even value 0..254 for a fixed TOS",
				"f.yaml:5:5: tunnels[1]: tunnel \"a\" (line 2) and tunnel \"a\" (line 5) are both the fallback tunnel (no local, no remote, no dev), like a second tunl0; the kernel refuses it (EEXIST); want one fallback: give this one a local, remote or dev",
				"f.yaml:5:11: tunnels[1].name: device \"a\" is already the name of tunnel \"a\" (line 2); want a different name for each tunnel",
				"f.yaml:6:10: tunnels[1].mtu: 1 is out of range; want 68..65515, or leave mtu out for the underlay MTU - 20",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("f.yaml", []byte(tt.yaml))
			if c != nil {
				t.Errorf("got a config %+v, want nil with the errors", c)
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("err = %v (%T), want Errors", err, err)
			}
			for i := range max(len(es), len(tt.want)) {
				switch {
				case i >= len(es):
					t.Errorf("missing error %d: %s", i, tt.want[i])
				case i >= len(tt.want):
					t.Errorf("unexpected error %d: %s", i, es[i])
				case es[i].Error() != tt.want[i]:
					t.Errorf("error %d:\ngot  %s\nwant %s", i, es[i], tt.want[i])
				}
			}
		})
	}
}

// Package config reads and validates ipipd's node file: one YAML file that lists
// the node's tunnels, their addresses and their routes.
//
// The keys mirror "ip tunnel add NAME mode ipip local A remote B ttl T tos X
// [no]pmtudisc dev D" (iproute2 ip/iptunnel.c) and default as iproute2 does,
// except for the fallback tunnel, which defaults as the kernel's tunl0
// (ipip_init_net → ip_tunnel_init_net). A file is refused at load, with every
// problem reported at once (see Errors), for everything the kernel or iproute2
// would refuse, so that "ipipd check" finds what "ip tunnel add" would have.
//
// Messages name the file, line, column and the key's path, with list indexes
// counted from 0, and say what would be accepted:
//
//	node.yaml:6:10: tunnels[1].ttl: 300 is out of range; want 1..255 or "inherit"
package config

import (
	"net/netip"
	"strconv"
)

// Config is one node's file, parsed and validated.
type Config struct {
	Path    string // the file it came from, for messages
	Tunnels []Tunnel
	// Warnings are what the file may mean but that will likely not do what
	// was meant, such as a route that sends outer packets back into a
	// tunnel; check prints them and run logs them.
	Warnings Errors
}

// Tunnel is one tunnel: a TUN device owned by ipipd plus the kernel's
// ip_tunnel_parm fields for it.
type Tunnel struct {
	// Name is the TUN device name: 1..15 bytes, no '/', ':', '%' or white
	// space, not "." or ".." (the kernel's dev_valid_name; '%' would make the
	// kernel pick a name from a template, and ipipd needs to know it).
	Name string
	// Line is the line of the tunnel's list item, for messages.
	Line int

	// Local is the outer source. The zero Addr means any: the routing code
	// picks the source per packet (ip_tunnel_xmit step 4). 0.0.0.0 in the
	// file also means any. Never multicast.
	Local netip.Addr
	// Remote is the outer destination. The zero Addr means any: NBMA, the
	// outer destination comes from the route (Route.Via) or is the inner
	// destination itself. A multicast remote is allowed: ip_tunnel_lookup
	// matches it in phase 3 (outer daddr == the group, local ignored).
	Remote netip.Addr
	// Dev is the underlay device the tunnel is bound to ("dev D" in ip
	// tunnel, the kernel's parms.link): lookup prefers an exact link match and
	// the outer packets leave through it. "" means none.
	Dev string

	// MTU of the TUN device. 0 means automatic: the underlay MTU - 20, as
	// ip_tunnel_bind_dev computes it (1480 on a 1500 underlay). Otherwise
	// 68..65515 (IPV4_MIN_MTU .. 65535 - 20, the range ip_tunnel_change_mtu
	// accepts).
	MTU int
	// TTL of the outer header; 0 means inherit (copy the inner TTL), the
	// iproute2 and kernel default. A fixed TTL forces PMTUDisc, as
	// ip_tunnel_ctl and ipip_netlink_parms force DF.
	TTL uint8
	// TOS is the fixed outer TOS, default 0 (iproute2), always even: an odd
	// value, which iproute2 passes on and the kernel reads as inherit (bit 0,
	// ip_tunnel_xmit step 3), is refused in the file, where inherit is
	// written "inherit". Its two ECN bits never reach the wire:
	// INET_ECN_encapsulate replaces them. Ignored when TOSInherit.
	TOS uint8
	// TOSInherit copies the inner TOS into the outer header ("tos inherit",
	// iproute2's tos value 1). Default false.
	TOSInherit bool
	// PMTUDisc sets DF on every outer packet (frag_off = DF). It is the
	// effective value: default true as iproute2 sends it, false for the
	// fallback tunnel as the kernel creates tunl0 (nopmtudisc), and true
	// whenever TTL is fixed, because the kernel forces DF then.
	PMTUDisc bool
	// ECN selects how the inner ECN field is encapsulated; default ECNKernel.
	ECN ECNMode
	// TUN is the TUN backend: TUNOffload (default: batched reads and writes
	// with the kernel's segmentation offloads) or TUNWater (one packet per
	// syscall, the simple portable backend).
	TUN string

	// Table is the routing table whose routes through the device drive
	// the tunnel, and where Routes are installed: 0 means main (254),
	// otherwise 1..4294967295 as `ip route … table N` takes it.
	Table int
	// Down creates the device down and leaves it so, as `modprobe ipip`
	// creates tunl0; the operator brings it up with `ip link set NAME up`.
	// It is not a key of the file: `ipipd run` without one sets it (Default).
	Down bool

	// AcceptFrom is the peer filter: which outer sources the tunnel takes
	// packets from. The zero value takes any, as the kernel does.
	AcceptFrom AcceptFrom

	// Addresses are put on the TUN device ("ip addr add A dev NAME"); IPv4
	// only, host bits kept (172.16.0.1/30 is an address, not a network).
	Addresses []netip.Prefix
	// Routes are the tunnel's next-hop table, the equivalent of
	// "ip route add TO via VIA dev NAME onlink".
	Routes []Route
}

// IsFallback reports whether t is the fallback tunnel, the kernel's tunl0: no
// local, no remote, no dev. It receives every IPIP packet no other tunnel
// matches (ip_tunnel_lookup phase 7) and sends in NBMA mode. At most one
// tunnel of a file is the fallback, since that is one identity.
func (t Tunnel) IsFallback() bool {
	return !t.Local.IsValid() && !t.Remote.IsValid() && t.Dev == ""
}

// Route sends the inner destinations To through the tunnel.
type Route struct {
	// To is the inner destination prefix, IPv4, masked. A prefix with host
	// bits set is refused as "ip route add" refuses it.
	To netip.Prefix
	// Via is the outer destination. The zero Addr means the kernel's rule
	// (ip_tunnel_xmit step 2): the tunnel's remote, or, on a tunnel without
	// a remote, the inner destination itself. Always unicast IPv4. Note that
	// on a tunnel with a remote the kernel ignores the route's gateway and
	// always sends to the remote.
	Via netip.Addr
	// Line is the line of the route's list item, for messages.
	Line int
}

// ECNMode selects the ECN encapsulation of the outer header.
type ECNMode uint8

const (
	// ECNKernel is the kernel's INET_ECN_encapsulate: RFC 3168 §9.1.1 full
	// functionality, inner CE becomes ECT(0) in the outer header. "kernel"
	// in the file; the default.
	ECNKernel ECNMode = iota
	// ECNRFC6040 is RFC 6040 §4.1 normal mode: inner CE is copied to the
	// outer header. "rfc6040" in the file; an ipipd option the kernel lacks.
	ECNRFC6040
)

// String returns the mode as it is written in the file.
func (m ECNMode) String() string {
	switch m {
	case ECNKernel:
		return "kernel"
	case ECNRFC6040:
		return "rfc6040"
	}
	return "ECNMode(" + strconv.Itoa(int(m)) + ")"
}

// TUN backends accepted in a tunnel's "tun" key.
const (
	TUNWater   = "water"   // songgao/water, one packet per read
	TUNOffload = "offload" // wireguard-go's TUN with IFF_VNET_HDR, TSO/USO and GRO; the default
)

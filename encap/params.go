package encap

import (
	"net/netip"

	"github.com/ipipd/ipipd/internal/header"
)

// Headroom is how many bytes a TUN read must leave in front of the inner
// packet for the outer header.
const Headroom = header.MinSize

// Overhead is what encapsulation adds to a packet; the tunnel MTU is the
// underlay MTU minus this (ip_tunnel_bind_dev).
const Overhead = header.MinSize

// ECNMode chooses how the inner ECN field is carried in the outer header.
type ECNMode uint8

const (
	// ECNKernel is the kernel's INET_ECN_encapsulate, RFC 3168 section 9.1.1
	// "full functionality": CE in the inner header becomes ECT(0) outside.
	ECNKernel ECNMode = iota
	// ECNNormal is RFC 6040 section 4.1 normal mode: the outer field is a
	// copy of the inner one, CE included. An ipipd option the kernel lacks.
	ECNNormal
)

// Params is a tunnel's transmit configuration.
type Params struct {
	// Local is the outer source; the zero Addr leaves 0.0.0.0 in the header,
	// which the kernel's raw socket replaces with the source its routing
	// picks, as it does for a tunnel without local.
	Local netip.Addr
	// TTL is the outer TTL, 0 to copy the inner TTL ("inherit").
	TTL uint8
	// TOS is the fixed outer TOS, unless InheritTOS copies the inner one.
	// Its ECN bits are never used: ECN comes from the inner packet.
	TOS        uint8
	InheritTOS bool
	// PMTUDisc sets DF on every outer packet (iproute2's default "pmtudisc";
	// the fallback tunnel, like tunl0, has it off).
	PMTUDisc bool
	ECN      ECNMode
}

// Tunnel is Params compiled for the datapath: the constant part of the
// header and of its checksum are computed once, at (re)load.
type Tunnel struct {
	src        uint32
	ttl        uint8
	tos        uint8
	inheritTOS bool
	df         bool
	ecn        ECNMode
	// partial is the one's complement sum of the header words that never
	// change for this tunnel: the source address and, with a fixed TTL, the
	// TTL/protocol word.
	partial uint16
}

// NewTunnel compiles p. As ip_tunnel_ctl and ipip_netlink_parms do, a fixed
// TTL forces DF even when pmtudisc is off.
func NewTunnel(p Params) *Tunnel {
	t := &Tunnel{
		src:        header.Addr4(p.Local),
		ttl:        p.TTL,
		tos:        p.TOS &^ 1, // bit 0 is iproute2's "inherit" flag, never a TOS bit
		inheritTOS: p.InheritTOS,
		df:         p.PMTUDisc || p.TTL != 0,
		ecn:        p.ECN,
	}
	var sum uint64 = uint64(t.src>>16) + uint64(t.src&0xffff)
	if t.ttl != 0 {
		sum += uint64(t.ttl)<<8 | header.ProtocolIPIP
	}
	t.partial = header.Fold(sum)
	return t
}

// DF reports whether every outer packet of the tunnel carries DF.
func (t *Tunnel) DF() bool { return t.df }

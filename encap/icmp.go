package encap

import "github.com/ipipd/ipipd/internal/header"

// BuildFragNeeded writes into out the ICMP 3/4 that tnl_update_pmtu sends to the
// source of an inner DF packet too big for the tunnel, advertising mtu
// (icmp_ndo_send: no lower clamp), from src (an address of this node's
// tunnel, as the kernel's own ICMP would carry), with IP ID id. The daemon
// writes it into the tunnel's TUN, where the sender's stack learns the PMTU.
// It returns the length, 0 when no ICMP may be sent about inner (RFC 1122:
// not about ICMP errors, fragments other than the first, odd sources).
func BuildFragNeeded(out, inner []byte, mtu int, src uint32, id uint16) int {
	return toInnerSender(out, inner, header.CodeFragNeeded, uint16(mtu), src, id)
}

// BuildHostUnreachable writes the ICMP 3/1 that dst_link_failure sends to the
// inner source while the tunnel is in its soft error window (ipip_err).
func BuildHostUnreachable(out, inner []byte, src uint32, id uint16) int {
	return toInnerSender(out, inner, header.CodeHostUnreachable, 0, src, id)
}

func toInnerSender(out, inner []byte, code uint8, mtu uint16, src uint32, id uint16) int {
	if !header.IPv4(inner).IsValid(len(inner)) {
		return 0
	}
	return header.BuildICMPError(out, inner, &header.ICMPError{
		Code: code,
		MTU:  mtu,
		Src:  src,
		Dst:  header.IPv4(inner).Src(),
		ID:   id,
	})
}

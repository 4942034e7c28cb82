package encap

import (
	"encoding/binary"

	"github.com/ipipd/ipipd/internal/header"
)

// Encap wraps the inner packet at buf[Headroom:Headroom+n] for the outer
// destination dst (the route's answer, as the header carries it), on path
// (its MTU: the underlay's, or a lower one learned from ICMP).
// It writes the outer header into buf[:Headroom] and returns the verdict;
// for Send and Fragment, the outer packet is buf[:Result.Length], the header
// and the inner packet up to its total length (trailing bytes past it, such
// as padding, are not sent).
//
// The caller owns buf; Encap keeps no reference to it.
func (t *Tunnel) Encap(buf []byte, n int, dst uint32, ids *IDs, path Path) Result {
	if n < header.MinSize || len(buf) < Headroom+n {
		return Result{Verdict: Drop, Reason: BadHeader}
	}
	// A fixed-size view of the outer header and the inner one: one bounds
	// check here instead of one per field (header.IPv4's accessors check
	// each; this is the hot path, so it reads the bytes directly).
	p := (*[Headroom + header.MinSize]byte)(buf)
	const in = Headroom // where the inner header starts
	if p[in]>>4 != 4 {
		return Result{Verdict: Drop, Reason: NotIPv4}
	}
	hlen := int(p[in]&0x0f) << 2
	innerLen := int(p[in+2])<<8 | int(p[in+3])
	if hlen < header.MinSize || hlen > n || innerLen < hlen || innerLen > n {
		return Result{Verdict: Drop, Reason: BadHeader}
	}
	if innerLen > header.MaxTotalLength-Overhead {
		// No outer header can describe it: the total length is 16 bits.
		return Result{Verdict: Drop, Reason: TooBig, MTU: header.MaxTotalLength - Overhead}
	}
	innerTOS, innerTTL := p[in+1], p[in+8]
	innerDF := p[in+6]&(header.FlagDF>>8) != 0

	// tnl_update_pmtu: with outer DF the usable MTU is the path's minus
	// our header; only an inner DF packet earns an ICMP. iptunnel_xmit
	// clears DF on a locked path, and IP output then fragments.
	mtu := max(path.MTU-Overhead, 0)
	df := (t.df || innerDF) && !path.Locked
	verdict := Send
	if innerLen > mtu {
		switch {
		case innerDF:
			return Result{Verdict: FragNeeded, MTU: uint16(mtu)}
		case df:
			return Result{Verdict: Drop, Reason: TooBig, MTU: uint16(mtu)}
		default:
			verdict = Fragment
		}
	}

	tos := t.tos
	if t.inheritTOS {
		tos = innerTOS
	}
	tos = tos&^header.ECNMask | uint8(t.encapECN(header.ECNOf(innerTOS)))
	ttl := t.ttl
	if ttl == 0 {
		ttl = innerTTL
	}
	var flags uint16
	if df {
		flags = header.FlagDF
	}
	total := uint16(Headroom + innerLen)
	id := ids.Next(t.src, dst)

	// The sum of the variable words plus the tunnel's precomputed constant
	// part: the header is written once and never re-read for its checksum.
	sum := uint64(t.partial) + uint64(0x4500|uint16(tos)) + uint64(total) + uint64(id) +
		uint64(flags) + uint64(dst>>16) + uint64(dst&0xffff)
	if t.ttl == 0 {
		sum += uint64(ttl)<<8 | header.ProtocolIPIP
	}
	binary.BigEndian.PutUint64(p[0:8], uint64(0x45)<<56|uint64(tos)<<48|uint64(total)<<32|uint64(id)<<16|uint64(flags))
	binary.BigEndian.PutUint32(p[8:12], uint32(ttl)<<24|header.ProtocolIPIP<<16|uint32(^fold(sum)))
	binary.BigEndian.PutUint32(p[12:16], t.src)
	binary.BigEndian.PutUint32(p[16:20], dst)
	return Result{Verdict: verdict, Length: int32(total)}
}

// fold reduces the sum of at most a dozen 16-bit words (below 2^20) to 16
// bits: two rounds suffice where header.Fold's general case needs four.
func fold(sum uint64) uint16 {
	sum = sum>>16 + sum&0xffff
	sum = sum>>16 + sum&0xffff
	return uint16(sum)
}

// encapECN is INET_ECN_encapsulate's ECN part: the outer field copies the
// inner one, except that the kernel turns CE into ECT(0) (RFC 3168 9.1.1)
// where RFC 6040 normal mode keeps CE.
func (t *Tunnel) encapECN(inner header.ECN) header.ECN {
	if inner == header.CE && t.ecn == ECNKernel {
		return header.ECT0
	}
	return inner
}

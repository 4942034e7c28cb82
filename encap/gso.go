package encap

import (
	"encoding/binary"

	"github.com/ipipd/ipipd/internal/header"
)

// A TCP super-packet read whole from an offload TUN (a GSO packet: one
// IPv4/TCP header, up to 64 KiB of payload, a segment size, and a TCP
// checksum field that holds only the pseudo-header sum) can leave as one
// outer packet that the kernel, or the NIC, cuts into segments after the
// daemon: ipip_gso_segment copies the outer header onto every segment,
// with its own total length, checksum and an ID one more than the segment
// before (inet_gso_segment). Each segment must then fit the path on its
// own, so the MTU decision is made for a segment, not for the super-packet.

// EncapGSO wraps the TCP super-packet at buf[Headroom:Headroom+n], of
// mss-byte segments, as one outer packet for dst, when every segment it
// stands for would be sent as it is: it writes the outer header into
// buf[:Headroom] as Encap does (TTL, TOS and ECN, DF), takes as many IDs
// as there are segments (the first is in the header, the kernel's
// segmentation numbers the rest), and returns a Send result and true.
//
// It returns false, and writes nothing, when the packet cannot go whole:
// not a TCP/IPv4 packet whose total length is n, a segment that would not
// fit path (the inner headers plus mss, plus Overhead, above path.MTU: a
// per-segment verdict of fragment, frag needed or drop), one segment only,
// or an outer length past 65535. The caller then cuts it with SplitGSO and
// encapsulates each segment with Encap, which gives each its verdict;
// RefuseGSO, asked first, refuses whole what no segment could be sent as.
func (t *Tunnel) EncapGSO(buf []byte, n, mss int, dst uint32, ids *IDs, path Path) (Result, bool) {
	if len(buf) < Headroom+n || n < header.MinSize {
		return Result{}, false
	}
	inner := header.IPv4(buf[Headroom : Headroom+n])
	count, hdrs := segments(inner, mss)
	if count < 2 || hdrs+mss > path.MTU-Overhead || n > header.MaxTotalLength-Overhead {
		return Result{}, false
	}
	// The whole packet fits a path this wide, so Encap's MTU check passes
	// and the rest (TOS, ECN, TTL, DF with the path's lock) is its own.
	r := t.Encap(buf, n, dst, ids, Path{MTU: header.MaxTotalLength, Locked: path.Locked})
	if r.Verdict != Send {
		return Result{}, false
	}
	ids.skip(t.src, dst, count-1)
	return r, true
}

// RefuseGSO returns the verdict that refuses the TCP super-packet at
// buf[Headroom:Headroom+n], of mss-byte segments, whole, and true, when
// its segments do not fit path and may not be fragmented: FragNeeded,
// advertising the path's inner MTU, when the inner header has DF; Drop
// with TooBig when only the outer one would (the tunnel's pmtudisc, on a
// path that is not locked). It is the verdict Encap gives the first
// segment, the longest; every segment but the last is as long, so it is
// given once, for the super-packet: its sender hears one ICMP, not one per
// segment, and it counts once, as the kernel counts a GSO skb. The kernel
// sends at most one ICMP per GSO skb too: tnl_update_pmtu sends none for
// one (it lowers the inner route's PMTU, which a local sender reads; a
// TUN's sender hears only ICMP), and ip_forward refuses a forwarded one
// whose segments are too long with one (ip_exceeds_mtu:
// skb_gso_validate_network_len).
//
// It returns false when the segments fit path, when they would be
// fragmented (no DF, or DF cleared on a locked path), or when inner is not
// a packet Segments accepts: the caller goes on with EncapGSO or SplitGSO.
// It writes nothing and takes no ID.
func (t *Tunnel) RefuseGSO(buf []byte, n, mss int, path Path) (Result, bool) {
	if len(buf) < Headroom+n || n < header.MinSize {
		return Result{}, false
	}
	inner := header.IPv4(buf[Headroom : Headroom+n])
	count, hdrs := segments(inner, mss)
	mtu := max(path.MTU-Overhead, 0)
	if count == 0 || hdrs+min(mss, n-hdrs) <= mtu {
		return Result{}, false
	}
	switch {
	case inner.DontFragment():
		return Result{Verdict: FragNeeded, MTU: uint16(mtu)}, true
	case t.df && !path.Locked:
		return Result{Verdict: Drop, Reason: TooBig, MTU: uint16(mtu)}, true
	}
	return Result{}, false
}

// Segments returns how many segments the TCP super-packet inner stands for
// with mss-byte payloads, and their inner bytes together (each segment
// repeats the IP and TCP headers). It returns 0, 0 for a packet that is
// not TCP/IPv4 with a valid header and total length len(inner), or for
// mss < 1.
func Segments(inner []byte, mss int) (count, bytes int) {
	count, hdrs := segments(header.IPv4(inner), mss)
	if count == 0 {
		return 0, 0
	}
	return count, len(inner) + (count-1)*hdrs
}

// segments returns the segment count and the length of the IP and TCP
// headers of inner, or 0, 0.
func segments(inner header.IPv4, mss int) (count, hdrs int) {
	if mss < 1 || len(inner) < header.MinSize || inner[0]>>4 != 4 || inner[9] != header.ProtocolTCP {
		return 0, 0
	}
	ihl := int(inner[0]&0x0f) * 4
	if ihl < header.MinSize || len(inner) < ihl+header.TCPMinSize || int(binary.BigEndian.Uint16(inner[2:])) != len(inner) {
		return 0, 0
	}
	hdrs = ihl + int(inner[ihl+header.TCPDataOff]>>4)*4
	if hdrs < ihl+header.TCPMinSize || hdrs > len(inner) {
		return 0, 0
	}
	return max(1, (len(inner)-hdrs+mss-1)/mss), hdrs
}

// SplitGSO cuts the TCP super-packet inner into segments of at most mss
// payload bytes, as tcp_gso_segment does, writing segment i to
// outs[i][offset:] and its length to sizes[i]: each gets inner's IP and
// TCP headers with its own total length, an IP ID one more than the
// segment before, its sequence number and whole IP and TCP checksums
// (inner's TCP checksum field, partial or whole, is not read); CWR stays on
// the first segment only, FIN and PSH on the last only. Each is then an
// ordinary packet for Encap.
//
// It returns the number of segments, or 0 (writing nothing) when inner is
// not a TCP/IPv4 packet Segments accepts, when more than len(outs)
// segments would be needed, or when an out is too short for its segment.
// inner is only read, and may not overlap outs.
func SplitGSO(inner []byte, mss int, outs [][]byte, sizes []int, offset int) int {
	ip := header.IPv4(inner)
	count, hdrs := segments(ip, mss)
	if count == 0 || count > len(outs) || len(sizes) < count || offset < 0 {
		return 0
	}
	for i := range count {
		if len(outs[i]) < offset+hdrs+min(mss, len(inner)-hdrs-i*mss) {
			return 0
		}
	}
	for i := range count {
		sizes[i] = header.TCPSegment(outs[i][offset:], ip, hdrs, mss, i, count)
	}
	return count
}

// skip takes k more IDs for packets from src to dst, as if Next had been
// called k times: a super-packet's segments are numbered after its first.
func (g *IDs) skip(src, dst uint32, k int) {
	if k <= 0 {
		return
	}
	h := (dst ^ src*0x9e3779b1) * g.key
	i := h >> (32 - 11)
	g.counters[i] += uint16(k)
}

package encap

import "github.com/ipipd/ipipd/internal/header"

// FragmentPacket splits an outer packet without DF into fragments of at
// most mtu bytes, as the kernel's ip_fragment would after ip_tunnel_xmit
// (a raw socket refuses an oversize packet with EMSGSIZE instead). Fragment
// i is written to out[i] and its length to sizes[i]; it returns how many
// were written, or 0 when the packet has DF, is not a valid IPv4 packet,
// mtu is below 28 (a header and one 8-byte unit), or out has too few or too
// small buffers: the caller drops the packet then.
//
// Every fragment repeats the outer header (ipipd writes no options) with
// the same ID; payload chunks are multiples of 8 bytes but for the last.
func FragmentPacket(pkt []byte, mtu int, out [][]byte, sizes []int) int {
	ip := header.IPv4(pkt)
	if !ip.IsValid(len(pkt)) || ip.DontFragment() || mtu < header.MinSize+8 {
		return 0
	}
	hlen := ip.HeaderLength()
	payload := ip.Payload()
	chunk := (mtu - hlen) &^ 7
	if chunk < 8 { // a header with options can leave no room for data
		return 0
	}
	count := (len(payload) + chunk - 1) / chunk
	if count > len(out) || count > len(sizes) {
		return 0
	}
	baseFlags := ip.FlagsFragmentOffset() // a packet may itself be a fragment
	baseOffset := int(baseFlags & 0x1fff)
	for i := 0; i < count; i++ {
		start := i * chunk
		end := min(start+chunk, len(payload))
		size := hlen + end - start
		if len(out[i]) < size {
			return 0
		}
		f := header.IPv4(out[i][:size])
		copy(f, pkt[:hlen])
		copy(f[hlen:], payload[start:end])
		flags := uint16(baseOffset + start/8)
		if end < len(payload) || baseFlags&header.FlagMF != 0 {
			flags |= header.FlagMF
		}
		f.SetFlagsFragmentOffset(flags)
		f.SetTotalLength(uint16(size))
		f.SetHeaderChecksum()
		sizes[i] = size
	}
	return count
}

package lookup

import (
	"fmt"
	"net/netip"
)

// Tunnel is what the tunnel table knows of a configured tunnel.
type Tunnel struct {
	Name   string
	Local  netip.Addr // the zero Addr (or 0.0.0.0) means any
	Remote netip.Addr // the zero Addr means any; may be multicast
	// Link is the ifindex of the underlay device the tunnel is bound to
	// ("dev" in ip tunnel), 0 when it is not bound.
	Link int
	// External marks the kernel's collect_md ("external") device: it shares
	// the wildcard identity without conflict, at most one per table, and is
	// the answer after the candidates and before the fallback. ipipd's
	// config does not offer it; the table models it to stay kernel-exact.
	External bool
	// Mode is the inner protocol the tunnel accepts, as the kernel's
	// parms.iph.protocol: 4 (ipip), 137 (mplsip) or 0 (any). Lookup ignores
	// it; decap drops a packet whose protocol the selected tunnel refuses,
	// after selection, as ipip_tunnel_rcv does.
	Mode uint8
	// Down tunnels keep their identity but are invisible to lookup, as the
	// kernel skips tunnels without IFF_UP.
	Down bool
}

// IsFallback reports the kernel's tunl0 identity: no local, no remote, no link.
func (t *Tunnel) IsFallback() bool {
	return !t.External && addr32(t.Local) == 0 && addr32(t.Remote) == 0 && t.Link == 0
}

func (t *Tunnel) identity() string {
	return fmt.Sprintf("local %s, remote %s, dev %s", anyAddr(t.Local), anyAddr(t.Remote), anyLink(t.Link))
}

func anyAddr(a netip.Addr) string {
	if addr32(a) == 0 {
		return "any"
	}
	return a.String()
}

func anyLink(link int) string {
	if link == 0 {
		return "none"
	}
	return fmt.Sprintf("ifindex %d", link)
}

package config

import (
	"net/netip"

	"gopkg.in/yaml.v3"
)

// IPv4 addresses and prefixes. netip parses them strictly (no leading
// zeros, no short forms like 10.1), so what is accepted is what "ip" prints.

// address reads an IPv4 address; example is shown in the message.
func (p *parser) address(field string, n *yaml.Node, example string) (netip.Addr, bool) {
	want := "an IPv4 address like " + example
	s, ok := p.scalar(field, n, want)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		if _, perr := netip.ParsePrefix(s); perr == nil {
			p.errorf(n, field, "%s is a prefix; want %s, without /length", s, want)
		} else {
			p.errorf(n, field, "%q is not an IPv4 address; want %s", s, want)
		}
		return netip.Addr{}, false
	}
	return p.ipv4(field, n, s, a, want)
}

// ipv4 refuses IPv6 forms with a message that says why.
func (p *parser) ipv4(field string, n *yaml.Node, s string, a netip.Addr, want string) (netip.Addr, bool) {
	switch {
	case a.Is4():
		return a, true
	case a.Is4In6():
		p.errorf(n, field, "%s is an IPv4-mapped IPv6 address; want %s (write %s)", s, want, a.Unmap())
	default:
		p.errorf(n, field, "%s is IPv6; ipip carries IPv4 in IPv4 only (IPv6 in IPv4 is sit); want %s", s, want)
	}
	return netip.Addr{}, false
}

// prefix reads an IPv4 prefix in CIDR form. A bare address is refused,
// rather than taken as /32, so that a forgotten length is seen.
func (p *parser) prefix(field string, n *yaml.Node, example string) (netip.Prefix, bool) {
	want := "an IPv4 prefix in CIDR form like " + example
	s, ok := p.scalar(field, n, want)
	if !ok {
		return netip.Prefix{}, false
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		if a, aerr := netip.ParseAddr(s); aerr == nil && a.Is4() {
			p.errorf(n, field, "%s is an address; want a prefix in CIDR form like %s/32", s, s)
		} else if aerr == nil {
			p.ipv4(field, n, s, a, want)
		} else {
			p.errorf(n, field, "%q is not an IPv4 prefix; want %s", s, want)
		}
		return netip.Prefix{}, false
	}
	if _, ok := p.ipv4(field, n, s, pfx.Addr(), want); !ok {
		return netip.Prefix{}, false
	}
	return pfx, true
}

package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Each parser below reads one scalar, reports a problem at the value's
// position with what would be accepted, and returns ok = false after a
// report. Numbers are decimal; only tos also takes 0x hex, as TOS values are
// usually written (0x10 is "lowdelay").

// scalar returns the text of a plain value; want says what is accepted.
func (p *parser) scalar(field string, n *yaml.Node, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(n, field, "%s; want %s", got(n), want)
		return "", false
	}
	return n.Value, true
}

const wantName = "a device name of 1..15 bytes without '/', ':', '%' or white space, like tunl0"

// deviceName reads a network device name, checked as the kernel's
// dev_valid_name does (IFNAMSIZ 16 with the NUL), plus '%', which would make
// the kernel choose the name from a template.
func (p *parser) deviceName(field string, n *yaml.Node) (string, bool) {
	s, ok := p.scalar(field, n, wantName)
	if !ok {
		return "", false
	}
	switch {
	case s == "":
		p.errorf(n, field, "empty name; want %s", wantName)
		return "", false
	case len(s) > 15:
		p.errorf(n, field, "%q is %d bytes long; want at most 15 (IFNAMSIZ - 1)", s, len(s))
		return "", false
	case s == "." || s == "..":
		p.errorf(n, field, "%q is not a device name; want %s", s, wantName)
		return "", false
	}
	for _, c := range []byte(s) {
		if c == '/' || c == ':' || c == '%' || c <= ' ' || c == 0x7f {
			p.errorf(n, field, "%q contains %q; want %s", s, c, wantName)
			return "", false
		}
	}
	return s, true
}

// number reads a decimal (or, with hex, also 0x-prefixed) integer. It
// reports only values that are not numbers at all; the caller checks range.
func (p *parser) number(field string, n *yaml.Node, hex bool, want string) (int, bool) {
	s, ok := p.scalar(field, n, want)
	if !ok {
		return 0, false
	}
	digits, base := s, 10
	if hex && (strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X")) {
		digits, base = s[2:], 16
	}
	v, err := strconv.ParseInt(digits, base, 32)
	if errors.Is(err, strconv.ErrRange) {
		p.errorf(n, field, "%s is out of range; want %s", s, want)
		return 0, false
	}
	if err != nil || strings.HasPrefix(digits, "+") || (base == 16 && strings.HasPrefix(digits, "-")) {
		p.errorf(n, field, "%q is not a number; want %s", s, want)
		return 0, false
	}
	return int(v), true
}

// ttl reads "inherit" (0) or 1..255, as iproute2's "ttl" argument, except
// that 0 is refused: in the file "inherit" says it.
func (p *parser) ttl(field string, n *yaml.Node) (uint8, bool) {
	const want = `1..255 or "inherit"`
	if n.Kind == yaml.ScalarNode && n.Value == "inherit" {
		return 0, true
	}
	v, ok := p.number(field, n, false, want)
	switch {
	case !ok:
		return 0, false
	case v == 0:
		p.errorf(n, field, `0 is not a TTL; want 1..255, or "inherit" to copy the inner TTL`)
		return 0, false
	case v < 1 || v > 255:
		p.errorf(n, field, "%d is out of range; want %s", v, want)
		return 0, false
	}
	return uint8(v), true
}

// tos reads "inherit" or a fixed TOS. iproute2 takes a numeric tos as is,
// so an odd value silently means inherit (bit 0 is the kernel's inherit
// flag, ip_tunnel_xmit step 3). That surprise is refused here instead: a
// fixed TOS must be even, and inherit is written "inherit".
func (p *parser) tos(field string, n *yaml.Node) (tos uint8, inherit, ok bool) {
	const want = `"inherit" or an even value 0..254 (decimal or 0x hex)`
	if n.Kind == yaml.ScalarNode && n.Value == "inherit" {
		return 0, true, true
	}
	v, ok := p.number(field, n, true, want)
	switch {
	case !ok:
		return 0, false, false
	case v < 0 || v > 255:
		p.errorf(n, field, "%s is out of range; want %s", n.Value, want)
		return 0, false, false
	case v&1 != 0:
		p.errorf(n, field, `%s has bit 0 set, which iproute2 and the kernel read as "inherit"; want "inherit", or an even value 0..254 for a fixed TOS`, n.Value)
		return 0, false, false
	}
	return uint8(v), false, true
}

// mtu reads 68..65515: IPV4_MIN_MTU up to 65535 - 20, the range the kernel's
// ip_tunnel_change_mtu accepts for an ipip device.
func (p *parser) mtu(field string, n *yaml.Node) (int, bool) {
	const want = "68..65515, or leave mtu out for the underlay MTU - 20"
	v, ok := p.number(field, n, false, want)
	if !ok {
		return 0, false
	}
	if v < 68 || v > 65515 {
		p.errorf(n, field, "%d is out of range; want %s", v, want)
		return 0, false
	}
	return v, true
}

// table reads a routing table as ip route's "table" takes it: main, default
// or a number. 0 (unspec) and local (255) are refused: the local table holds
// the kernel's own local and broadcast routes, never a tunnel's.
func (p *parser) table(field string, n *yaml.Node) (int, bool) {
	const want = `main, default, or a table number 1..2147483647 other than 255 (local)`
	if n.Kind == yaml.ScalarNode {
		switch n.Value {
		case "main":
			return 254, true
		case "default":
			return 253, true
		case "local":
			p.errorf(n, field, "the local table holds the kernel's own local and broadcast routes; want %s", want)
			return 0, false
		}
	}
	v, ok := p.number(field, n, false, want)
	if !ok {
		return 0, false
	}
	if v < 1 || v == 255 {
		p.errorf(n, field, "%d cannot hold a tunnel's routes; want %s", v, want)
		return 0, false
	}
	return v, true
}

// boolean reads true or false (YAML 1.2; yes/no/on/off are refused, since
// YAML 1.1 and 1.2 readers disagree on them).
func (p *parser) boolean(field string, n *yaml.Node) (bool, bool) {
	s, ok := p.scalar(field, n, "true or false")
	if !ok {
		return false, false
	}
	switch strings.ToLower(s) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	p.errorf(n, field, "%q is not a boolean; want true or false", s)
	return false, false
}

// oneOf reads one of the words in choices.
func (p *parser) oneOf(field string, n *yaml.Node, choices ...string) (string, bool) {
	want := quoteList(choices)
	s, ok := p.scalar(field, n, want)
	if !ok {
		return "", false
	}
	for _, c := range choices {
		if s == c {
			return s, true
		}
	}
	p.errorf(n, field, "%q is not accepted; want %s", s, want)
	return "", false
}

// quoteList words choices as `"a" or "b"`.
func quoteList(choices []string) string {
	q := make([]string, len(choices))
	for i, c := range choices {
		q[i] = strconv.Quote(c)
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// list returns the items of a list, aliases resolved. want describes an
// item, for the message when n is not a list.
func (p *parser) list(field string, n *yaml.Node, want string) ([]*yaml.Node, bool) {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, field, "%s; want a list of %s", got(n), want)
		return nil, false
	}
	items := make([]*yaml.Node, len(n.Content))
	for i, item := range n.Content {
		items[i] = resolve(item)
	}
	return items, true
}

// index names item i of a list field, like "tunnels[2]".
func index(field string, i int) string {
	return fmt.Sprintf("%s[%d]", field, i)
}

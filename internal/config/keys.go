package config

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// The keys accepted at each level of the file, in the order the docs list them.
var (
	topKeys    = []string{"tunnels"}
	tunnelKeys = []string{"name", "local", "remote", "dev", "mtu", "ttl", "tos", "pmtudisc", "ecn", "tun", "table", "accept_from", "addresses", "routes"}
	routeKeys  = []string{"to", "via"}
)

// entry is one key of a mapping and its value, aliases resolved.
type entry struct {
	name       string
	key, value *yaml.Node
}

// entries returns the keys of mapping m in file order. Unknown and repeated
// keys are reported (field names the mapping) and left out, so the caller
// only sees keys it knows, each once. yaml.v3 checks repeated keys only when
// decoding into Go values, not into a Node, so the check is ours.
func (p *parser) entries(field string, m *yaml.Node, accepted []string) []entry {
	var out []entry
	seen := make(map[string]*yaml.Node)
	for i := 0; i+1 < len(m.Content); i += 2 {
		key, value := resolve(m.Content[i]), resolve(m.Content[i+1])
		if key.Kind != yaml.ScalarNode {
			p.errorf(key, field, "a key must be a plain word (%s); accepted keys: %s", got(key), strings.Join(accepted, ", "))
			continue
		}
		name := key.Value
		if !slices.Contains(accepted, name) {
			p.errorf(key, field, "%s", unknownKey(name, accepted))
			continue
		}
		if first, ok := seen[name]; ok {
			p.errorf(key, field, "key %q is given twice (first at line %d); want each key once", name, first.Line)
			continue
		}
		seen[name] = key
		out = append(out, entry{name: name, key: key, value: value})
	}
	return out
}

// unknownKey words the message for a key that is not accepted, suggesting
// the closest accepted key when the difference looks like a typo.
func unknownKey(name string, accepted []string) string {
	list := strings.Join(accepted, ", ")
	if name == "<<" {
		return "merge keys (<<) are not supported; write the keys out. Accepted keys: " + list
	}
	if guess := closest(name, accepted); guess != "" {
		return fmt.Sprintf("unknown key %q; did you mean %q? Accepted keys: %s", name, guess, list)
	}
	return fmt.Sprintf("unknown key %q; accepted keys: %s", name, list)
}

// closest returns the accepted key nearest to name, or "" when none is near
// enough to be a likely typo: one edit for short keys, two for longer ones,
// letter case ignored, a swap of two neighbours counting as one edit.
func closest(name string, accepted []string) string {
	lower := strings.ToLower(name)
	best, bestDistance := "", 0
	for _, a := range accepted {
		limit := 1
		if len(a) > 4 {
			limit = 2
		}
		if abs(len(lower)-len(a)) > limit {
			continue // too different in length to be a typo
		}
		if d := editDistance(lower, a); d <= limit && (best == "" || d < bestDistance) {
			best, bestDistance = a, d
		}
	}
	return best
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// editDistance is the optimal string alignment distance between a and b
// (Levenshtein plus transposition of adjacent bytes). Keys are short and
// ASCII, so bytes will do.
func editDistance(a, b string) int {
	// d[i][j] is the distance between a[:i] and b[:j].
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// resolve follows an alias (*name) to the node it stands for. The walk of
// the file is bounded by the schema's depth, so a recursive anchor cannot
// make it loop.
func resolve(n *yaml.Node) *yaml.Node {
	for range 8 { // an alias never points at an alias; bound it anyway
		if n.Kind != yaml.AliasNode || n.Alias == nil {
			break
		}
		n = n.Alias
	}
	return n
}

// got says what a node holds, for "…; want …" messages.
func got(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "got a mapping"
	case yaml.SequenceNode:
		return "got a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "no value"
		}
		return fmt.Sprintf("got %q", n.Value)
	}
	return "no value"
}

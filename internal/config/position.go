package config

import "gopkg.in/yaml.v3"

// position is a place in the file: a line and a column, both from 1. The
// zero position is no place: the whole file in a message, or a value that
// is missing or bad in a tunnelSource.
//
// The file-wide checks keep positions, not the yaml.Node they come from, so
// that a Loader can keep a tunnel parsed last time without its node tree
// and move it to where the tunnel is now (tunnelSource.shift).
type position struct{ line, column int }

// at is where node n is; nil is the whole file.
func at(n *yaml.Node) position {
	if n == nil {
		return position{}
	}
	return position{n.Line, n.Column}
}

// known reports whether pos is a place in the file.
func (pos position) known() bool { return pos.line > 0 }

// down is pos moved down by lines; no place stays no place.
func (pos position) down(lines int) position {
	if pos.known() {
		pos.line += lines
	}
	return pos
}

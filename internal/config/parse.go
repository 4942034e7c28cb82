package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads the file at path and parses it. A file that cannot be read is
// returned as the *fs.PathError of os.ReadFile; a file that can be read but
// is refused, as Errors.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse parses and validates a file's contents; path is used only in
// messages. It returns either a valid Config and nil, or nil and Errors
// holding every problem of the file in file order.
func Parse(path string, data []byte) (*Config, error) {
	p := &parser{file: path}
	if root := p.document(data); root != nil {
		p.top(root)
	}
	p.crossCheck()
	if len(p.errs) > 0 {
		p.errs.sort()
		return nil, p.errs
	}
	p.warnings.sort()
	c := &Config{Path: path, Tunnels: make([]Tunnel, len(p.tunnels)), Warnings: p.warnings}
	for i, t := range p.tunnels {
		c.Tunnels[i] = t.Tunnel
	}
	return c, nil
}

// parser walks one file's yaml.Node tree, collecting problems instead of
// stopping at the first.
type parser struct {
	file     string
	errs     Errors
	warnings Errors          // what the file may mean but likely does not (loops)
	tunnels  []*tunnelSource // every tunnel item that is a mapping, in order
}

// warnAt reports, at pos, something the file may mean but that will likely
// not do what was meant; it does not refuse the file.
func (p *parser) warnAt(pos position, field, format string, args ...any) {
	p.warnings = append(p.warnings, &Error{File: p.file, Line: pos.line, Column: pos.column, Field: field, Message: fmt.Sprintf(format, args...)})
}

// errorf reports a problem at node n (nil: the whole file).
func (p *parser) errorf(n *yaml.Node, field, format string, args ...any) {
	p.errorAt(at(n), field, format, args...)
}

// errorAt reports a problem at pos (the zero position: the whole file).
func (p *parser) errorAt(pos position, field, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: pos.line, Column: pos.column, Field: field, Message: fmt.Sprintf(format, args...)})
}

const wantTop = "a mapping with a tunnels list, like \"tunnels: [{name: tun0, remote: 192.0.2.1}]\""

// document decodes the file into a node tree and returns its top node, or
// nil after reporting why there is none.
func (p *parser) document(data []byte) (root *yaml.Node) {
	defer func() {
		// yaml.v3 turns its own failures into errors; anything else it
		// panics with is a bug in it, which must not take the daemon down on
		// a SIGHUP reload.
		if r := recover(); r != nil {
			p.errorf(nil, "", "the YAML parser failed (%v); want a plain YAML file, %s", r, wantTop)
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errorf(nil, "", "the file is empty; want %s", wantTop)
		} else {
			p.syntax(err, data)
		}
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		p.syntax(err, data)
		return nil
	default:
		p.errorf(&next, "", "a second YAML document starts here; want one document per file")
		return nil
	}
	if len(doc.Content) == 0 {
		p.errorf(nil, "", "the file is empty; want %s", wantTop)
		return nil
	}
	return resolve(doc.Content[0])
}

// yamlLine matches yaml.v3's syntax errors, "yaml: line N: problem".
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntax reports a YAML syntax error at the line yaml.v3 names. yaml.v3
// gives no column. Its scanner's lines are exact; its parser's ("did not find
// expected key", an unclosed [ or {) are counted from 0 and may be those of
// the enclosing collection's start, so there the mistake is on the next line
// or further down. The two cannot be told apart from the message, so the
// line is passed on as yaml.v3 gives it. An error without a line (an unknown
// anchor) is reported for the whole file. A tab in the indentation, the most
// common mistake, is located here instead, exactly.
func (p *parser) syntax(err error, data []byte) {
	const want = "want valid YAML: indent with spaces, not tabs, and quote values that contain ': ' or start with a special character"
	msg := err.Error()
	e := &Error{File: p.file}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	if strings.Contains(msg, "tab character") {
		if line, column := indentTab(data); line > 0 {
			e.Line, e.Column = line, column
		}
	}
	e.Message = "YAML syntax error: " + msg + "; " + want
	p.errs = append(p.errs, e)
}

// top reads the top-level mapping: the tunnels list.
func (p *parser) top(root *yaml.Node) {
	if root.Kind != yaml.MappingNode {
		p.errorf(root, "", "the top level: %s; want %s", got(root), wantTop)
		return
	}
	var tunnels *yaml.Node
	for _, e := range p.entries("", root, topKeys) {
		tunnels = e.value // the only accepted key
	}
	if tunnels == nil {
		p.errorf(root, "tunnels", "missing; want %s", wantTop)
		return
	}
	items, ok := p.list("tunnels", tunnels, "tunnels, each a mapping starting with \"- name: \"")
	if !ok {
		return
	}
	if len(items) == 0 {
		p.errorf(tunnels, "tunnels", "empty list; want at least one tunnel, like \"- {name: tun0, remote: 192.0.2.1}\"")
		return
	}
	for i, item := range items {
		if t := p.tunnel(i, item); t != nil {
			p.tunnels = append(p.tunnels, t)
		}
	}
}

// indentTab returns the position of the first tab in a line's indentation,
// or 0, 0.
func indentTab(data []byte) (line, column int) {
	for i, text := range bytes.Split(data, []byte("\n")) {
		for j, c := range text {
			if c == '\t' {
				return i + 1, j + 1
			}
			if c != ' ' {
				break
			}
		}
	}
	return 0, 0
}

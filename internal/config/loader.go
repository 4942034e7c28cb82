package config

import (
	"os"

	"gopkg.in/yaml.v3"
)

// Loader loads one node file again and again, as the daemon does on every
// SIGHUP, and decodes only what changed. At 10 000 tunnels and 100 000
// routes Parse takes most of a second, nearly all of it in decoding YAML;
// a reload that changes one tunnel decodes that tunnel alone.
//
// It keeps the last file's tunnels list items, parsed, by their text. A
// file simple enough to be cut into items without decoding it (see
// tunnelItems) is cut; an item of the same text as last time is taken as
// it was parsed then, moved to its new line, and any other item is decoded
// alone and read by the same code as in Parse. The file-wide checks then
// run over every tunnel, as in Parse, with the tunnels' indexes and lines
// in this file. Whatever is unusual (a file that cannot be cut, an item
// that does not decode alone or has a problem of its own) is parsed whole
// by Parse, whose messages count lines and list indexes in the whole file.
// So the result is always exactly Parse's: the same Config, or the same
// Errors.
//
// Configs of successive loads share the slices of the tunnels that did not
// change, with each other and with the Loader: a Config must be read, never
// changed. The zero Loader is ready to use. A Loader is not safe for
// concurrent use.
type Loader struct {
	items map[string]*parsedItem // the last file's items by their text
	loads int                    // Loads and Parses so far, to find the items a file no longer has
	// What the last call did, for the tests to see that the cache is
	// used: how many items it decoded alone, and whether it parsed the
	// whole file with Parse.
	decoded int
	whole   bool
}

// parsedItem is an item of the tunnels list, parsed alone.
type parsedItem struct {
	// source is the item as the file-wide checks see it: its lines count
	// from the item's first line, and index and shift say where it was in
	// the last file that had it.
	source tunnelSource
	// tunnel is the item as the last Config had it, at its lines there.
	// A Config shares its slices; they are never changed, only replaced.
	tunnel Tunnel
	seen   int // the last load whose file has it
}

// Load reads the file at path and parses it, as the package's Load does.
func (l *Loader) Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return l.Parse(path, data)
}

// Parse parses a file's contents as Parse does, reusing the items of the
// file it parsed last.
func (l *Loader) Parse(path string, data []byte) (*Config, error) {
	l.loads++
	l.decoded, l.whole = 0, false
	p, tunnels := l.parseItems(path, data)
	if p == nil {
		l.whole = true
		return Parse(path, data)
	}
	p.crossCheck()
	if len(p.errs) > 0 {
		p.errs.sort()
		return nil, p.errs
	}
	p.warnings.sort()
	return &Config{Path: path, Tunnels: tunnels, Warnings: p.warnings}, nil
}

// parseItems cuts the file into items and parses them, reusing those of
// the last file. It returns a parser holding every item, to run the
// file-wide checks, and the tunnels as a Config has them; or nil when the
// file must be parsed whole: it cannot be cut, or an item is refused.
func (l *Loader) parseItems(path string, data []byte) (*parser, []Tunnel) {
	cut, ok := tunnelItems(data)
	if !ok {
		l.items = nil
		return nil, nil
	}
	if l.items == nil {
		l.items = make(map[string]*parsedItem, len(cut))
	}
	p := &parser{file: path, tunnels: make([]*tunnelSource, len(cut))}
	tunnels := make([]Tunnel, len(cut))
	whole := false // an item did not decode alone or is refused
	for i, c := range cut {
		text := data[c.start:c.end]
		item := l.items[string(text)]
		if item == nil && !whole {
			if t := p.decodeItem(i, text); t != nil {
				item = &parsedItem{source: *t, tunnel: t.placed()} // parsed at shift 0
				l.items[string(text)] = item
				l.decoded++
			} else {
				whole = true
			}
		}
		if item == nil {
			continue // the file is parsed whole; only the cache is kept up
		}
		if item.seen == l.loads {
			// The same text twice, two tunnels of one name: refused,
			// and one parsedItem cannot be at two places.
			whole = true
			continue
		}
		item.seen = l.loads
		item.source.index = i
		if shift := c.line - 1; shift != item.source.shift {
			item.source.shift = shift
			item.tunnel = item.source.placed()
		}
		p.tunnels[i] = &item.source
		tunnels[i] = item.tunnel
	}
	// The cache holds the items of this file only: an item of an older
	// file is unlikely to come back, and the cache must not grow.
	for text, item := range l.items {
		if item.seen != l.loads {
			delete(l.items, text)
		}
	}
	if whole {
		return nil, nil
	}
	return p, tunnels
}

// decodeItem decodes text, one item of the tunnels list, alone, and reads
// it as item i. It returns nil when the item does not decode into exactly
// one item or has any problem: then the file is parsed whole, for Parse's
// messages.
func (p *parser) decodeItem(i int, text []byte) (t *tunnelSource) {
	defer func() {
		if recover() != nil {
			t = nil // a failure of yaml.v3; Parse reports it
		}
	}()
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil || len(doc.Content) != 1 {
		return nil
	}
	list := doc.Content[0]
	if list.Kind != yaml.SequenceNode || len(list.Content) != 1 {
		return nil
	}
	t = p.tunnel(i, resolve(list.Content[0]))
	if t == nil || len(p.errs) > 0 || len(p.warnings) > 0 {
		return nil
	}
	return t
}

// placed returns the tunnel with its lines where the tunnel is now. Its
// slices are t's, but for the routes, which hold lines: moved, they are
// copies.
func (t *tunnelSource) placed() Tunnel {
	tu := t.Tunnel
	tu.Line += t.shift
	if t.shift != 0 && len(tu.Routes) > 0 {
		routes := make([]Route, len(tu.Routes))
		for j, r := range tu.Routes {
			r.Line += t.shift
			routes[j] = r
		}
		tu.Routes = routes
	}
	return tu
}

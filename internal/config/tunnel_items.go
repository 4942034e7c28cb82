package config

import "bytes"

// itemText is one item of the tunnels list as it stands in the file: from
// the start of its "- " line to the start of the next item's (or the end of
// the file), comments and blank lines after it included.
type itemText struct {
	start, end int // byte offsets in the file
	line       int // the line it starts on, from 1
}

// maxItemLine bounds a line of a file cut by tunnelItems. yaml.v3 refuses
// nesting deeper than 10 000; an item decoded alone sits two levels higher
// than in the whole file, so it could pass where the file fails. Nesting
// needs a column per level, so lines this short keep every item far from
// the limit.
const maxItemLine = 4096

// tunnelItems cuts a file into the items of its tunnels list, without
// decoding it, when the file is so plain that each item, decoded alone,
// reads exactly as it does in the whole file; ok is false for any other
// file, which must then be parsed whole. A plain file is:
//
//   - comment and blank lines, then "tunnels:" at column 0 (a comment may
//     follow it), then the list: its first item's "- " sets the list's
//     indentation, and every later line is an item's "- " at that
//     indentation, a line indented deeper, or a comment or blank line;
//     there is at least one item;
//   - printable ASCII and newlines only: no tab, no carriage return, no
//     byte that is not ASCII (YAML has line breaks there, and a reader may
//     refuse it anywhere, comments included);
//   - outside comment lines, none of & * (anchors and aliases, which reach
//     across items), ! (tags), | > (block scalars), % (directives); and
//     lines of at most maxItemLine bytes.
//
// What this cut cannot see it leaves to the decoder: a quoted scalar or a
// flow collection left open at the end of an item makes that item fail to
// decode alone, and a Loader then parses the whole file.
func tunnelItems(data []byte) (items []itemText, ok bool) {
	indent := -1    // the list's, once its first item is seen
	inList := false // after "tunnels:"
	// Most files have no byte to look at twice: one pass over the whole
	// file settles it, and lines are checked one by one only otherwise.
	eachLine := unusual(data, &unusualBytes) != 0
	line := 0
	for start := 0; start < len(data); {
		line++
		end := bytes.IndexByte(data[start:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += start
		}
		text := data[start:end]
		if len(text) > maxItemLine {
			return nil, false
		}
		spaces := 0
		for spaces < len(text) && text[spaces] == ' ' {
			spaces++
		}
		rest := text[spaces:]
		comment := len(rest) == 0 || rest[0] == '#'
		if eachLine && !plainLine(text, comment) {
			return nil, false
		}
		switch {
		case comment:
		case !inList:
			if !isTunnelsKey(text) {
				return nil, false
			}
			inList = true
		case (indent < 0 || spaces == indent) && isItem(rest):
			indent = spaces
			if n := len(items); n > 0 {
				items[n-1].end = start
			}
			items = append(items, itemText{start: start, line: line})
		case indent < 0 || spaces <= indent:
			return nil, false // a second key, or a line outside the list
		}
		start = end + 1
	}
	if len(items) == 0 {
		return nil, false
	}
	items[len(items)-1].end = len(data)
	return items, true
}

// isTunnelsKey reports whether line is "tunnels:" alone at column 0, or
// followed by a comment.
func isTunnelsKey(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("tunnels:"))
	if !ok {
		return false
	}
	after := bytes.TrimLeft(rest, " ")
	return len(after) == 0 || (after[0] == '#' && len(after) < len(rest))
}

// isItem reports whether a line, its indentation cut, starts a list item
// with something on the same line.
func isItem(rest []byte) bool {
	if len(rest) < 3 || rest[0] != '-' || rest[1] != ' ' {
		return false
	}
	for _, c := range rest[2:] {
		if c != ' ' {
			return true
		}
	}
	return false
}

// plainLine reports whether every byte of a line is one tunnelItems takes.
func plainLine(text []byte, comment bool) bool {
	table := &unusualBytes
	if comment {
		table = &unusualInComment
	}
	return unusual(text, table) == 0
}

// unusual returns non-zero when text holds a byte that table marks.
func unusual(text []byte, table *[256]byte) byte {
	// No branch a byte, eight independent lookups a round: this runs
	// over every byte of the file.
	var u byte
	for ; len(text) >= 8; text = text[8:] {
		u |= table[text[0]] | table[text[1]] | table[text[2]] | table[text[3]] |
			table[text[4]] | table[text[5]] | table[text[6]] | table[text[7]]
	}
	for _, c := range text {
		u |= table[c]
	}
	return u
}

// unusualBytes are 1 for the bytes tunnelItems refuses outside comments,
// and unusualInComment for those it refuses in a comment line. A newline
// ends a line and is in neither.
var unusualBytes, unusualInComment = func() (plain, comment [256]byte) {
	for c := range 256 {
		if (c < ' ' || c > '~') && c != '\n' {
			plain[c], comment[c] = 1, 1
		}
	}
	for _, c := range "&*!|>%" {
		plain[c] = 1
	}
	return plain, comment
}()

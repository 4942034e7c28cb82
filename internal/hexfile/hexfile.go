// Package hexfile reads packets written as commented hex, the form of the
// fuzz seeds under testdata/ and of `ipipd explain` input:
//
//	# outer 10.245.1.3 > 10.245.1.2, proto 4
//	45 00 00 68 00 09 40 00 40 04 ...
//
// A '#' starts a comment to the end of the line; white space, ':' and '-'
// between bytes are ignored, so tcpdump -xx and Wireshark hex copies work.
package hexfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Parse returns the bytes in text, or an error naming the first line with
// something that is not a hex digit.
func Parse(text string) ([]byte, error) {
	var out []byte
	for lineNo, line := range strings.Split(text, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		digits := strings.Map(func(r rune) rune {
			switch r {
			case ' ', '\t', '\r', ':', '-':
				return -1
			}
			return r
		}, line)
		// tcpdump -xx prefixes each line with an offset like "0x0010:".
		if strings.HasPrefix(digits, "0x") {
			if i := strings.IndexByte(line, ':'); i >= 0 {
				digits = strings.Map(func(r rune) rune {
					if r == ' ' || r == '\t' || r == '\r' {
						return -1
					}
					return r
				}, line[i+1:])
			}
		}
		if len(digits)%2 != 0 {
			return nil, fmt.Errorf("line %d: odd number of hex digits (%d); want whole bytes like \"45 00\"", lineNo+1, len(digits))
		}
		for i := 0; i < len(digits); i += 2 {
			hi, ok1 := nibble(digits[i])
			lo, ok2 := nibble(digits[i+1])
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("line %d: %q is not a hex byte; want two of 0-9 a-f", lineNo+1, digits[i:i+2])
			}
			out = append(out, hi<<4|lo)
		}
	}
	return out, nil
}

func nibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Format writes b as 16 bytes a line, after a comment line.
func Format(comment string, b []byte) string {
	var s strings.Builder
	for _, line := range strings.Split(comment, "\n") {
		s.WriteString("# " + line + "\n")
	}
	for i := 0; i < len(b); i += 16 {
		end := min(i+16, len(b))
		for j := i; j < end; j++ {
			if j > i {
				s.WriteByte(' ')
			}
			fmt.Fprintf(&s, "%02x", b[j])
		}
		s.WriteByte('\n')
	}
	return s.String()
}

// File is one parsed file of commented hex.
type File struct {
	Name  string // the base name, e.g. "seed-echo.hex"
	Bytes []byte
}

// Glob parses every file matching pattern (filepath.Glob), in name order:
// the fuzz seeds under a package's testdata/seeds. It fails when none
// matches, so a moved folder cannot silently leave a fuzz target unseeded.
func Glob(pattern string) ([]File, error) {
	names, err := filepath.Glob(pattern)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no file matches %s", pattern)
	}
	files := make([]File, 0, len(names))
	for _, name := range names {
		text, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		b, err := Parse(string(text))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		files = append(files, File{Name: filepath.Base(name), Bytes: b})
	}
	return files, nil
}

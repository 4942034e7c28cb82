package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem in a file, at a place in it.
//
// It prints as "FILE:LINE:COL: FIELD: MESSAGE", leaving out the parts it does
// not know (a YAML syntax error has no column, an empty file no line).
type Error struct {
	File   string
	Line   int    // 1-based; 0 when unknown
	Column int    // 1-based; 0 when unknown
	Field  string // path of the key, like "tunnels[1].ttl" (indexes from 0); "" for the file
	// Message says what is wrong and what would be accepted.
	Message string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteString(":" + strconv.Itoa(e.Column))
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Errors is every problem found in one file, in file order. Parse and Load
// return it (as error) whenever the file is refused; it is never empty then.
// Use errors.As to get it back.
type Errors []*Error

// Error prints one problem a line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find a single *Error.
func (es Errors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}

// sort puts the problems in file order; problems without a line (the whole
// file) come first. Stable, so problems found at one place keep their order.
func (es Errors) sort() {
	slices.SortStableFunc(es, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
}

package config

import (
	"errors"
	"testing"
)

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"full", &Error{File: "n.yaml", Line: 6, Column: 10, Field: "tunnels[1].ttl", Message: "300 is out of range"}, "n.yaml:6:10: tunnels[1].ttl: 300 is out of range"},
		{"no column", &Error{File: "n.yaml", Line: 4, Message: "YAML syntax error"}, "n.yaml:4: YAML syntax error"},
		{"no line", &Error{File: "n.yaml", Message: "the file is empty"}, "n.yaml: the file is empty"},
		{"no field", &Error{File: "n.yaml", Line: 1, Column: 1, Message: "the top level: got a list"}, "n.yaml:1:1: the top level: got a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestErrorsJoinAndUnwrap(t *testing.T) {
	es := Errors{
		{File: "f", Line: 1, Message: "a"},
		{File: "f", Line: 2, Message: "b"},
	}
	if got, want := es.Error(), "f:1: a\nf:2: b"; got != want {
		t.Errorf("Errors.Error() = %q, want %q", got, want)
	}
	var err error = es
	var one *Error
	if !errors.As(err, &one) || one.Message != "a" {
		t.Errorf("errors.As(*Error) = %v, want the first problem", one)
	}
	var all Errors
	if !errors.As(err, &all) || len(all) != 2 {
		t.Errorf("errors.As(Errors) = %v, want both problems", all)
	}
}

func TestClosestKey(t *testing.T) {
	tests := []struct{ typo, want string }{
		{"remtoe", "remote"},      // swapped neighbours
		{"adresses", "addresses"}, // a letter missing
		{"pmtudsic", "pmtudisc"},
		{"TTL", "ttl"}, // case
		{"mut", "mtu"},
		{"route", "routes"},
		{"colour", ""}, // nothing close
		{"x", ""},
	}
	for _, tt := range tests {
		if got := closest(tt.typo, tunnelKeys); got != tt.want {
			t.Errorf("closest(%q) = %q, want %q", tt.typo, got, tt.want)
		}
	}
}

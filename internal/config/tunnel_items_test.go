package config

import (
	"slices"
	"strings"
	"testing"
)

// tunnelItems cuts a plain file at its items' "- " lines, each item taking
// the comments after it, and refuses to cut what it cannot be sure of.
// TestLoaderMatchesParse checks that what it cuts reads as the whole file
// does; this pins where the cuts fall.
func TestTunnelItems(t *testing.T) {
	tests := []struct {
		name, file string
		want       []string // the items' texts; nil: not cut
		lines      []int
	}{
		{"block items", "# head\ntunnels:\n  - name: a\n    remote: 10.4.4.4\n  # about b\n  - {name: b}\n",
			[]string{"  - name: a\n    remote: 10.4.4.4\n  # about b\n", "  - {name: b}\n"}, []int{3, 6}},
		{"nested lists stay in their item", "tunnels:\n- name: a\n  routes:\n  - to: 10.0.0.0/8\n- name: b",
			[]string{"- name: a\n  routes:\n  - to: 10.0.0.0/8\n", "- name: b"}, []int{2, 5}},
		{"a comment after tunnels:", "tunnels: # all\n  - name: a\n", []string{"  - name: a\n"}, []int{2}},
		{"a comment with what YAML reads as markup", "tunnels:\n  # & * ! | > %\n  - name: a\n", []string{"  - name: a\n"}, []int{3}},
		{"flow style", "tunnels: [{name: a}]\n", nil, nil},
		{"no item", "tunnels:\n# none\n", nil, nil},
		{"no tunnels key", "# tunnels:\n", nil, nil},
		{"tunnels: without a space before its comment", "tunnels:# all\n  - name: a\n", nil, nil},
		{"an anchor outside comments", "tunnels:\n  - name: &a a\n", nil, nil},
		{"a second key", "tunnels:\n  - name: a\nother: 1\n", nil, nil},
		{"an item less indented", "tunnels:\n    - name: a\n  - name: b\n", nil, nil},
		{"an empty item line", "tunnels:\n  -\n    name: a\n", nil, nil},
		{"a document marker", "tunnels:\n- name: a\n---\n", nil, nil},
		{"a tab", "tunnels:\n  - name: a\n  \t\n", nil, nil},
		{"a long line", "tunnels:\n  - name: a\n    # " + strings.Repeat("x", maxItemLine) + "\n", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, ok := tunnelItems([]byte(tt.file))
			if ok != (tt.want != nil) {
				t.Fatalf("cut %v, want %v", ok, tt.want != nil)
			}
			var texts []string
			var lines []int
			for _, it := range items {
				texts = append(texts, tt.file[it.start:it.end])
				lines = append(lines, it.line)
			}
			if !slices.Equal(texts, tt.want) || !slices.Equal(lines, tt.lines) {
				t.Errorf("items %q at lines %v; want %q at %v", texts, lines, tt.want, tt.lines)
			}
		})
	}
}

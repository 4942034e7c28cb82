package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// badFiles are the files under testdata/bad, which the end-to-end test of
// "ipipd check" also uses, with where each is refused. Each file says on
// its first line, in a comment, what is wrong with it.
var badFiles = map[string][]struct {
	line  int
	field string
}{
	"unknown-key.yaml":        {{5, "tunnels[0]"}},
	"bad-address.yaml":        {{5, "tunnels[0].remote"}, {6, "tunnels[0].addresses[0]"}},
	"duplicate-identity.yaml": {{7, "tunnels[1]"}},
	"ttl-300.yaml":            {{6, "tunnels[0].ttl"}},
	"duplicate-name.yaml":     {{6, "tunnels[1].name"}},
	"two-fallbacks.yaml":      {{5, "tunnels[1]"}},
	"duplicate-route.yaml":    {{9, "tunnels[1].routes[0].to"}},
	"ttl-nopmtudisc.yaml":     {{7, "tunnels[0].pmtudisc"}},
	"syntax.yaml":             {{5, ""}},
	"many.yaml": {
		{3, "tunnels[0].name"}, {5, "tunnels[0].remote"}, {6, "tunnels[0].tos"},
		{7, "tunnels[0].mtu"}, {8, "tunnels[0].pmtudisc"},
		{10, "tunnels[0].routes[0].to"}, {10, "tunnels[0].routes[0].via"},
		{11, "tunnels[0].routes[1].to"}, {11, "tunnels[0].routes[1]"},
	},
}

func TestBadFiles(t *testing.T) {
	paths, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no testdata/bad files: %v", err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want, ok := badFiles[filepath.Base(path)]
			if !ok {
				t.Fatalf("%s has no expectation in badFiles", path)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(data, []byte("# BAD: ")) {
				t.Errorf("first line should say what is wrong, as \"# BAD: …\"")
			}
			_, err = Load(path)
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("Load = %v, want Errors", err)
			}
			if len(es) != len(want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(es), len(want), es)
			}
			for i, w := range want {
				if es[i].File != path || es[i].Line != w.line || es[i].Field != w.field || es[i].Message == "" {
					t.Errorf("error %d = %v, want line %d field %q", i, es[i], w.line, w.field)
				}
			}
		})
	}
}

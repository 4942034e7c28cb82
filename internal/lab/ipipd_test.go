package lab_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ipipd/ipipd/internal/lab"
)

func TestRunArgs(t *testing.T) {
	got := lab.RunArgs("/bin/ipipd", "a.yaml", "a.sock", "--metrics", ":9")
	want := []string{"/bin/ipipd", "run", "-c", "a.yaml", "--control", "a.sock", "--metrics", ":9"}
	if !slices.Equal(got, want) {
		t.Errorf("RunArgs = %q, want %q", got, want)
	}
}

// fakeShow writes a stand-in for ipipd whose `show` runs script.
func fakeShow(t *testing.T, script string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ipipd")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestShowDecodes(t *testing.T) {
	bin := fakeShow(t, `[ "$*" = "show --raw --control /run/x.sock" ] || { echo "bad args: $*" >&2; exit 2; }
echo '{"Tunnels":[{"Name":"tunl0"}]}'`)
	var st struct{ Tunnels []struct{ Name string } }
	if err := lab.Show(context.Background(), bin, "/run/x.sock", &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Tunnels) != 1 || st.Tunnels[0].Name != "tunl0" {
		t.Errorf("decoded %+v, want one tunnel tunl0", st)
	}
}

func TestShowErrors(t *testing.T) {
	var v any
	err := lab.Show(context.Background(), fakeShow(t, "echo 'ipipd: dial unix /run/x.sock: connect: no such file' >&2; exit 1"), "/run/x.sock", &v)
	if err == nil || !strings.Contains(err.Error(), "connect: no such file") || !strings.Contains(err.Error(), "/run/x.sock") {
		t.Errorf("failing show: %v, want the socket and what show said", err)
	}
	err = lab.Show(context.Background(), fakeShow(t, "echo 'not json'"), "/run/x.sock", &v)
	if err == nil || !strings.Contains(err.Error(), `"not json`) {
		t.Errorf("bad JSON: %v, want an error quoting the output", err)
	}
}

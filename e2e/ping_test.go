package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/ipipd/ipipd/internal/lab"
)

// requirePing fails the test unless iputils' ping is installed: the tests
// that need its flags (-M, -Q, -s) cannot do without it.
func requirePing(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ping"); err != nil {
		t.Fatalf("`ping` is not installed; this test needs ping from iputils for -M/-Q/-s: install iputils-ping (apt-get install -y iputils-ping)")
	}
	out, _ := exec.Command("ping", "-V").CombinedOutput()
	if !strings.Contains(string(out), "iputils") {
		t.Fatalf("`ping -V` says %q: this test needs ping from iputils: install iputils-ping (apt-get install -y iputils-ping)", strings.TrimSpace(string(out)))
	}
}

// ping runs iputils ping inside ns with -n (no name lookups) and a bound
// wait (-W 2), and returns its output and whether it exited 0 (a reply
// came back for every request).
func ping(ns *lab.NS, args ...string) (string, bool) {
	out, err := ns.Try(append([]string{"ping", "-n", "-W", "2"}, args...)...)
	return out, err == nil
}

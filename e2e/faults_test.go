package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// Faults an operator can cause, each ending in a working datapath or in an
// exit with a non-zero status and a log line naming the cause.

// --control naming a file that is not a socket: ipipd refuses to start,
// says what is there, and leaves the file as it was (it used to delete it).
func TestControlPathThatIsAFile(t *testing.T) {
	lab.Require(t)
	ns := lab.New(t, "node1")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "node.yaml")
	if err := os.WriteFile(cfg, []byte("tunnels:\n  - name: tunl0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	precious := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(precious, []byte("keep me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := ns.Try(append([]string{"timeout", "10"}, lab.RunArgs(ipipdBin, cfg, precious)...)...)
	if err == nil || !strings.Contains(err.Error(), "exit status") {
		t.Fatalf("ipipd run --control %s: %v, want a non-zero exit", precious, err)
	}
	if !strings.Contains(out, precious) || !strings.Contains(out, "regular file") {
		t.Errorf("the message does not name the path and what is there:\n%s", out)
	}
	if b, _ := os.ReadFile(precious); string(b) != "keep me\n" {
		t.Errorf("the file at the control path was changed: %q", b)
	}
	if _, err := ns.Try("ip", "link", "show", "tunl0"); err == nil {
		t.Error("tunl0 exists after the refused start: ipipd created before it checked --control")
	}
}

// A change of the underlay's MTU reaches show's path MTU at once: it used
// to keep the figure from start-up, which the kernel no longer had.
func TestShowFollowsTheUnderlayMTU(t *testing.T) {
	lab.Require(t)
	l := newLAN(t, 2)
	cfg := "tunnels:\n  - name: p2p\n    local: 10.245.1.2\n    remote: 10.245.1.3\n    addresses: [172.16.0.1/30]\n"
	d := startDaemon(t, l.nodes[0], "node1", cfg)
	if got := d.tunnel(t, "p2p").PathMTU; got != 1500 {
		t.Fatalf("path MTU %d at start, want the underlay's 1500", got)
	}
	l.nodes[0].Run(t, "ip", "link", "set", "eth0", "mtu", "1400")
	eventually(t, time.Second, "show's path MTU 1400 after ip link set eth0 mtu 1400", func() bool {
		return d.tunnel(t, "p2p").PathMTU == 1400
	})
}

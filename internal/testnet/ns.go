package testnet

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/ownedns"
)

// CommandTimeout bounds every command Run and Try execute, and every `ip`
// command the helpers run, so a hung command fails the test instead of
// hanging it until the test binary's global timeout.
const CommandTimeout = 30 * time.Second

// NS is a network namespace created by New and deleted at the end of the test.
type NS struct {
	name  string
	label string

	mu       sync.Mutex
	counters map[string]int // next free index per auto-generated link name prefix
}

// New creates a network namespace with a unique name, brings its loopback up
// and disables IPv6 in it (ipipd's underlay is IPv4; IPv6 router and listener
// solicitations would only add noise to captures and counters). It registers
// a t.Cleanup that kills every process still in the namespace and deletes
// it; that cleanup runs even if the test fails or panics. label appears in
// the name to make leftovers readable.
func New(t testing.TB, label string) *NS {
	t.Helper()
	ns := &NS{name: newName(label), label: label, counters: map[string]int{}}
	if out, err := runIP("netns", "add", ns.name); err != nil {
		t.Fatalf("testnet: ip netns add %s: %v: %s", ns.name, err, out)
	}
	t.Cleanup(func() {
		if err := remove(ns.name); err != nil {
			t.Errorf("testnet: removing namespace %s: %v", ns.name, err)
		}
	})
	if out, err := runIP("-n", ns.name, "link", "set", "dev", "lo", "up"); err != nil {
		t.Fatalf("testnet: %s: bringing lo up: %v: %s", ns.name, err, out)
	}
	if err := ns.Do(ownedns.DisableIPv6); err != nil {
		t.Fatalf("testnet: %s: %v", ns.name, err)
	}
	return ns
}

// Name returns the namespace's name, as `ip netns` knows it.
func (ns *NS) Name() string { return ns.name }

// String returns the name and the label given to New.
func (ns *NS) String() string { return ns.label + "(" + ns.name + ")" }

// Run runs a command inside the namespace (`ip netns exec NAME args...`) and
// returns its combined output. It fails the test, quoting the output, if the
// command fails or runs longer than CommandTimeout. Like t.Fatal it must be
// called from the test's goroutine.
func (ns *NS) Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := ns.Try(args...)
	if err != nil {
		t.Fatalf("testnet: %v", err)
	}
	return out
}

// Try is Run without failing the test: the error names the namespace and the
// command and includes its output.
func (ns *NS) Try(args ...string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("no command")
	}
	out, err := runCommand("ip", append([]string{"netns", "exec", ns.name}, args...)...)
	if err != nil {
		return out, fmt.Errorf("in %s: %s: %w\n%s", ns, strings.Join(args, " "), err, out)
	}
	return out, nil
}

// ip runs `ip -n NAME args...`, failing the test on error.
func (ns *NS) ip(t testing.TB, args ...string) {
	t.Helper()
	if out, err := runIP(append([]string{"-n", ns.name}, args...)...); err != nil {
		t.Fatalf("testnet: in %s: ip %s: %v: %s", ns, strings.Join(args, " "), err, out)
	}
}

// nextName returns prefix followed by the next unused index for that prefix
// in this namespace ("eth0", "eth1", …).
func (ns *NS) nextName(prefix string) string {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	i := ns.counters[prefix]
	ns.counters[prefix] = i + 1
	return fmt.Sprintf("%s%d", prefix, i)
}

// runIP runs the ip command in the host namespace; callers only pass
// commands that act on the helper's own namespaces (`netns add/delete/pids`,
// `-n NAME …`).
func runIP(args ...string) (string, error) {
	return runCommand("ip", args...)
}

// runCommand runs a command bounded by CommandTimeout and returns its
// combined output.
func runCommand(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = time.Second // do not wait forever for orphaned children holding the pipes
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", CommandTimeout, err)
	}
	return string(out), err
}

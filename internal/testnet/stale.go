package testnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Prefix starts the name of every namespace this package creates.
const Prefix = "ipipdt-"

// netnsDir is where `ip netns` keeps its named namespaces.
const netnsDir = "/run/netns"

// newName returns "ipipdt-<pid>-<6 hex digits>[-<label>]". The PID lets
// CleanupStale recognise namespaces whose creator is gone; the random part
// keeps names unique within one process.
func newName(label string) string {
	name := fmt.Sprintf("%s%d-%06x", Prefix, os.Getpid(), rand.Uint32()&0xffffff)
	if label = sanitize(label); label != "" {
		name += "-" + label
	}
	return name
}

// sanitize keeps a short, file-name-safe form of a label.
func sanitize(label string) string {
	var b strings.Builder
	for _, r := range label {
		if b.Len() == 16 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// creatorPID extracts the PID from a name made by newName.
func creatorPID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, Prefix)
	if !ok {
		return 0, false
	}
	digits, _, _ := strings.Cut(rest, "-")
	pid, err := strconv.Atoi(digits)
	return pid, err == nil && pid > 0
}

// alive reports whether a process with this PID exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// CleanupStale deletes namespaces left by earlier test binaries that died
// before their cleanups ran (killed by a timeout, SIGKILL, a crash). It only
// touches names with Prefix whose creating process no longer exists, so it
// is safe while other test binaries run in parallel. Call it from TestMain.
func CleanupStale() error {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		pid, ok := creatorPID(e.Name())
		if !ok || alive(pid) {
			continue
		}
		err := remove(e.Name())
		if _, statErr := os.Stat(netnsDir + "/" + e.Name()); errors.Is(statErr, os.ErrNotExist) {
			err = nil // gone, perhaps removed by another test binary's CleanupStale
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// remove kills every process left in the namespace and deletes it.
// Equivalent to: `kill -9 $(ip netns pids NAME); ip netns delete NAME`.
func remove(name string) error {
	killAll(name)
	if out, err := runIP("netns", "delete", name); err != nil {
		return fmt.Errorf("ip netns delete %s: %v: %s", name, err, out)
	}
	return nil
}

// killAll sends SIGKILL to every process whose network namespace is name,
// except this process (a goroutine inside Do may have put the main thread
// there for a moment).
func killAll(name string) {
	out, err := runIP("netns", "pids", name)
	if err != nil {
		return
	}
	for _, field := range strings.Fields(out) {
		pid, err := strconv.Atoi(field)
		if err == nil && pid != os.Getpid() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

package testnet

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ipipd/ipipd/internal/ownedns"
)

// Prefix starts the name of every namespace this package creates.
const Prefix = "ipipdt-"

// newName returns "ipipdt-<pid>-<6 hex digits>[-<label>]". The PID lets
// CleanupStale recognise namespaces whose creator is gone; the random part
// keeps names unique within one process.
func newName(label string) string {
	name := ownedns.Name(Prefix)
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

// CleanupStale deletes namespaces left by earlier test binaries that died
// before their cleanups ran (killed by a timeout, SIGKILL, a crash). It only
// touches names with Prefix whose creating process no longer exists, so it
// is safe while other test binaries run in parallel. Call it from TestMain.
func CleanupStale() error {
	stale, err := ownedns.Stale(Prefix)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range stale {
		err := remove(name)
		if _, statErr := os.Stat(ownedns.Dir + "/" + name); errors.Is(statErr, os.ErrNotExist) {
			err = nil // gone, perhaps removed by another test binary's CleanupStale
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// remove kills every process left in the namespace and deletes it.
// Equivalent to: `kill -9 $(ip netns pids NAME); ip netns delete NAME`.
func remove(name string) error {
	if out, err := runIP("netns", "pids", name); err == nil {
		ownedns.KillPIDs(out)
	}
	if out, err := runIP("netns", "delete", name); err != nil {
		return fmt.Errorf("ip netns delete %s: %v: %s", name, err, out)
	}
	return nil
}

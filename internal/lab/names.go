package lab

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Dir is where `ip netns` keeps its named namespaces.
const Dir = "/run/netns"

// Name returns "<prefix><pid>-<6 hex digits>[-<label>]": the PID names the
// creator (see Stale), the random part keeps names unique within one
// process, and the label, cut to a short file-name-safe form, makes
// leftovers readable.
func Name(prefix, label string) string {
	name := fmt.Sprintf("%s%d-%06x", prefix, os.Getpid(), rand.Uint32()&0xffffff)
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

// Stale lists the namespaces in Dir whose names start with prefix and whose
// creating process (see Name) no longer exists; those of processes still
// running are left out, so it is safe while other runs go on. A missing
// Dir has none.
func Stale(prefix string) ([]string, error) {
	entries, err := os.ReadDir(Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var stale []string
	for _, e := range entries {
		if pid, ok := creatorPID(e.Name(), prefix); ok && !alive(pid) {
			stale = append(stale, e.Name())
		}
	}
	return stale, nil
}

// creatorPID extracts the PID from a name made by Name.
func creatorPID(name, prefix string) (int, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
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

// KillPIDs sends SIGKILL to every process listed in pids, the output of
// `ip netns pids NAME`, except this process (a goroutine may have put one
// of its threads in the namespace for a moment).
func KillPIDs(pids string) {
	for _, field := range strings.Fields(pids) {
		if pid, err := strconv.Atoi(field); err == nil && pid != os.Getpid() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

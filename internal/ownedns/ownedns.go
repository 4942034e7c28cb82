// Package ownedns names the network namespaces a process makes for itself
// (test binaries through internal/testnet, the ipipbench harness) after
// that process, so that a later run can tell one left behind by a process
// that died from one still in use, and empties a namespace of the
// processes left in it before it is deleted. prepare.go holds what the
// demo and the tests both do to a fresh namespace: IPv6 off, veth ends at
// far indexes, and waiting until links run.
package ownedns

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

// Name returns "<prefix><pid>-<6 hex digits>": the PID names the creator,
// the random part keeps names unique within one process.
func Name(prefix string) string {
	return fmt.Sprintf("%s%d-%06x", prefix, os.Getpid(), rand.Uint32()&0xffffff)
}

// Stale lists the namespaces in Dir whose names start with prefix and whose
// creating process no longer exists; those of processes still running are
// left out, so it is safe while other runs go on. A missing Dir has none.
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

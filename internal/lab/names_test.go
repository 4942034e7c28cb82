package lab

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestNameCarriesTheCreator(t *testing.T) {
	name := Name("ipipdt-", "")
	pid, ok := creatorPID(name+"-label", "ipipdt-")
	if !ok || pid != os.Getpid() {
		t.Fatalf("creatorPID(%q) = %d, %v; want this process, %d", name, pid, ok, os.Getpid())
	}
	if Name("ipipdt-", "") == name {
		t.Error("two names in one process are equal")
	}
}

func TestCreatorPID(t *testing.T) {
	for _, tt := range []struct {
		name string
		pid  int
		ok   bool
	}{
		{"ipipdt-123-abcdef-node1", 123, true},
		{"ipipdt-123-abcdef", 123, true},
		{"ipipbench-123-abcdef-a", 0, false}, // another prefix
		{"ipipdt-x-abcdef", 0, false},
		{"ipipdt-0-abcdef", 0, false},
		{"ipipdt--5-abcdef", 0, false},
	} {
		pid, ok := creatorPID(tt.name, "ipipdt-")
		if pid != tt.pid && tt.ok || ok != tt.ok {
			t.Errorf("creatorPID(%q) = %d, %v; want %d, %v", tt.name, pid, ok, tt.pid, tt.ok)
		}
	}
}

func TestAlive(t *testing.T) {
	if !alive(os.Getpid()) {
		t.Error("this process is not alive")
	}
	max, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Skip(err)
	}
	beyond, _ := strconv.Atoi(strings.TrimSpace(string(max)))
	if alive(beyond + 1) {
		t.Errorf("PID %d beyond pid_max is alive", beyond+1)
	}
}

// KillPIDs leaves this process alone even when it is listed.
func TestKillPIDsSparesItself(t *testing.T) {
	KillPIDs(strconv.Itoa(os.Getpid()) + "\nnot-a-pid\n")
}

func TestNameLabel(t *testing.T) {
	name := Name("ipipdt-", "node 1/ü-x")
	if !strings.HasSuffix(name, "-node1x") {
		t.Errorf("Name with a label: %q, want it to end in the label's safe form -node1x", name)
	}
	if got := sanitize("abcdefghijklmnopqrstuvwxyz"); got != "abcdefghijklmnop" {
		t.Errorf("sanitize keeps %q, want 16 characters", got)
	}
}

package netsetup

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// sysctl names one per-device setting, net.<family>.conf.<device>.<key>.
// /proc/sys/net follows the network namespace of the thread that opens it.
type sysctl struct {
	family string // "ipv4" or "ipv6"
	device string
	key    string
}

func (s sysctl) path() string {
	return "/proc/sys/net/" + s.family + "/conf/" + s.device + "/" + s.key
}

// String is the name sysctl(8) takes, with a '.' in the device name written
// as '/' as sysctl(8) requires ("net.ipv4.conf.eth0/100.rp_filter").
func (s sysctl) String() string {
	return "net." + s.family + ".conf." + strings.ReplaceAll(s.device, ".", "/") + "." + s.key
}

// sysctlChange records a value that was changed, to put it back.
type sysctlChange struct {
	setting sysctl
	old     string
}

// readSysctl returns the setting's value without the trailing newline.
//
// Equivalent to: `sysctl -n $setting`
func readSysctl(s sysctl) (string, error) {
	b, err := os.ReadFile(s.path())
	if err != nil {
		return "", fmt.Errorf("read %s: %w", s, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// writeSysctl sets the value.
//
// Equivalent to: `sysctl -w $setting=$value`
func writeSysctl(s sysctl, value string) error {
	// O_WRONLY without O_CREATE or O_TRUNC: the file must exist, and procfs
	// parses the one write.
	f, err := os.OpenFile(s.path(), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("set %s=%s: %w", s, value, err)
	}
	_, err = f.WriteString(value)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("set %s=%s: %w", s, value, err)
	}
	return nil
}

// setSysctl sets s to value unless it already has it, and returns the change
// to undo, or nil when nothing changed.
func setSysctl(s sysctl, value string) (*sysctlChange, error) {
	old, err := readSysctl(s)
	if err != nil {
		return nil, fmt.Errorf("set %s=%s: %w", s, value, errors.Unwrap(err))
	}
	if old == value {
		return nil, nil
	}
	if err := writeSysctl(s, value); err != nil {
		return nil, err
	}
	return &sysctlChange{setting: s, old: old}, nil
}

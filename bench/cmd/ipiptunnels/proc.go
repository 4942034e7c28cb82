package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procStats is what /proc says of the daemon at one moment.
type procStats struct {
	RSSKiB, PeakRSSKiB int // VmRSS and VmHWM
	Threads            int // OS threads
	Descriptors        int // entries of /proc/PID/fd
}

func (s procStats) String() string {
	return fmt.Sprintf("RSS %.1f MiB (peak %.1f MiB), %d threads, %d descriptors",
		float64(s.RSSKiB)/1024, float64(s.PeakRSSKiB)/1024, s.Threads, s.Descriptors)
}

// readProcStats reads /proc/PID/status and counts /proc/PID/fd.
func readProcStats(pid int) (procStats, error) {
	var s procStats
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(value)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		switch key {
		case "VmRSS":
			s.RSSKiB = n
		case "VmHWM":
			s.PeakRSSKiB = n
		case "Threads":
			s.Threads = n
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.Descriptors = len(fds)
	return s, nil
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is sysconf(_SC_CLK_TCK), the unit of utime and stime in
// /proc/PID/stat. Linux reports USER_HZ, which is 100 on every architecture
// Go supports; reading it would need cgo.
const clockTicks = 100

// cpuSeconds returns the user plus system CPU time the process has used so
// far, all its threads included.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/PID/stat line. The command name (field 2) is in parentheses and may
// hold spaces, so the count starts after the last ')'.
func parseStatCPU(stat string) (float64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc stat: no ')' in %q", stat)
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the name, want at least 13", len(f))
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc stat: utime %q stime %q", f[11], f[12])
	}
	return float64(utime+stime) / clockTicks, nil
}

// peakRSSKiB returns VmHWM, the process's peak resident set size, in KiB.
func peakRSSKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseStatusField(string(b), "VmHWM")
}

// parseStatusField reads a "Name:   1234 kB" line of /proc/PID/status.
func parseStatusField(status, name string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != name {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			break
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("/proc status: no %s line", name)
}

// exePath is the resolved path of the program the process runs.
func exePath(pid int) (string, error) {
	return os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
}

// children lists the PIDs of pid's direct children (all threads' lists).
func children(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// threadUse is how a daemon's CPU time during a test spread over its
// threads: how many cores one process keeps busy, and with how many
// threads. A Go daemon's goroutines move between threads, so a busy
// thread is not one loop; the count says how parallel the daemon ran.
type threadUse struct {
	Threads int `json:"threads"` // threads at the end of the test
	// Busy counts the threads that used at least busyShare of a core.
	Busy int `json:"busy"`
	// Top is the busiest thread's share of a core.
	Top float64 `json:"top_thread_cores"`
}

// busyShare is the share of one core over a test that makes a thread busy.
const busyShare = 0.10

// threadCPU returns the CPU seconds each thread of pid has used so far,
// by thread ID (/proc/PID/task/TID/stat).
func threadCPU(pid int) map[int]float64 {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	m := make(map[int]float64, len(tasks))
	for _, t := range tasks {
		tid, err := strconv.Atoi(filepath.Base(filepath.Dir(t)))
		if err != nil {
			continue
		}
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread has exited
		}
		if s, err := parseStatCPU(string(b)); err == nil {
			m[tid] = s
		}
	}
	return m
}

// spread compares two threadCPU readings taken seconds apart. A thread
// born in between counts from zero.
func spread(before, after map[int]float64, seconds float64) threadUse {
	u := threadUse{Threads: len(after)}
	if seconds <= 0 {
		return u
	}
	for tid, s := range after {
		share := (s - before[tid]) / seconds
		if share >= busyShare {
			u.Busy++
		}
		u.Top = max(u.Top, share)
	}
	return u
}

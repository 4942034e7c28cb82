package outerlab

import (
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ThreadCPU is the calling thread's CPU time. With tick accounting (this
// kernel: no IRQ_TIME_ACCOUNTING) it includes the softirq work that ran
// on the thread's back, such as a veth peer's receive path.
func ThreadCPU() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// ProcessCPU is the process's user+system time.
func ProcessCPU() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ThreadSwitches returns the calling thread's voluntary and involuntary
// context switches (RUSAGE_THREAD).
func ThreadSwitches() (vol, invol int64) {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return ru.Nvcsw, ru.Nivcsw
}

// MachineBusy is the machine's busy CPU time (all of /proc/stat's cpu line
// but idle and iowait), for context: other work shares the machine.
func MachineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line := strings.SplitN(string(b), "\n", 2)[0]
	f := strings.Fields(line)[1:]
	var busy int64
	for i, s := range f {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait, guest (already in user)
			continue
		}
		v, _ := strconv.ParseInt(s, 10, 64)
		busy += v
	}
	return time.Duration(busy) * time.Second / 100 // USER_HZ
}

// ProcessSwitches returns the process's voluntary context switches
// (RUSAGE_SELF): every time one of its threads slept and was woken.
func ProcessSwitches() int64 {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return ru.Nvcsw
}

// Package sdnotify tells systemd how a Type=notify service is doing, as
// sd_notify(3) does: READY=1 once it serves, RELOADING=1 and READY=1
// around a reload, STOPPING=1 when it begins to stop, and STATUS= a line
// `systemctl status` shows. systemd names its socket in NOTIFY_SOCKET; a
// process started any other way has none, and every call is a no-op.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// SocketEnv names the variable systemd passes the socket's address in.
const SocketEnv = "NOTIFY_SOCKET"

// Notify sends state, one or more newline-separated VARIABLE=value
// assignments, in one datagram to the socket NOTIFY_SOCKET names: a path,
// or an abstract socket written with a leading '@' (Go's net package maps
// it to the leading NUL byte the kernel expects). Without NOTIFY_SOCKET it
// does nothing and returns nil.
func Notify(state string) error {
	addr := os.Getenv(SocketEnv)
	if addr == "" {
		return nil
	}
	if addr[0] != '/' && addr[0] != '@' {
		return fmt.Errorf("%s=%q: want an absolute path or an abstract socket (@name)", SocketEnv, addr)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notifying systemd: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("notifying systemd: %w", err)
	}
	return nil
}

// Ready says the service is up (or up again after a reload), with status.
func Ready(status string) error { return Notify("READY=1\n" + statusLine(status)) }

// Reloading says a reload has begun; READY=1 ends it. MONOTONIC_USEC,
// the CLOCK_MONOTONIC time of the reload, lets systemd ≥ 253 tell this
// reload from an older one (Type=notify-reload requires it).
func Reloading(status string) error {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return fmt.Errorf("notifying systemd: reading CLOCK_MONOTONIC: %w", err)
	}
	return Notify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d\n%s", ts.Nano()/1000, statusLine(status)))
}

// Stopping says the service has begun to stop.
func Stopping(status string) error { return Notify("STOPPING=1\n" + statusLine(status)) }

// Status changes only the line systemctl status shows.
func Status(status string) error { return Notify(statusLine(status)) }

// statusLine is the STATUS= assignment, none for an empty status: one
// line, since a newline would start another assignment.
func statusLine(status string) string {
	if status == "" {
		return ""
	}
	return "STATUS=" + strings.ReplaceAll(status, "\n", " ")
}

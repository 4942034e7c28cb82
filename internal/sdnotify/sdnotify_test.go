package sdnotify

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// listen opens a datagram socket at addr, as systemd's notify socket, and
// points NOTIFY_SOCKET at it for the test.
func listen(t *testing.T, addr string) *net.UnixConn {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv(SocketEnv, addr)
	return conn
}

// receive reads one datagram, failing the test after a second.
func receive(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestMessages(t *testing.T) {
	conn := listen(t, filepath.Join(t.TempDir(), "notify"))
	for _, tc := range []struct {
		name string
		send func() error
		want string
	}{
		{"ready", func() error { return Ready("2 tunnels") }, "READY=1\nSTATUS=2 tunnels"},
		{"ready without status", func() error { return Ready("") }, "READY=1\n"},
		{"stopping", func() error { return Stopping("stopping") }, "STOPPING=1\nSTATUS=stopping"},
		{"status on one line", func() error { return Status("a\nb") }, "STATUS=a b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.send(); err != nil {
				t.Fatal(err)
			}
			if got := receive(t, conn); got != tc.want {
				t.Errorf("sent %q, want %q", got, tc.want)
			}
		})
	}
}

// TestReloadingCarriesMonotonicTime: systemd ≥ 253 matches RELOADING=1 to
// the reload it asked for by MONOTONIC_USEC, CLOCK_MONOTONIC in µs.
func TestReloadingCarriesMonotonicTime(t *testing.T) {
	conn := listen(t, filepath.Join(t.TempDir(), "notify"))
	now := func() int64 {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
			t.Fatal(err)
		}
		return ts.Nano() / 1000
	}
	before := now()
	if err := Reloading("reloading"); err != nil {
		t.Fatal(err)
	}
	after := now()
	lines := strings.Split(receive(t, conn), "\n")
	if len(lines) != 3 || lines[0] != "RELOADING=1" || lines[2] != "STATUS=reloading" {
		t.Fatalf("sent %q, want RELOADING=1, MONOTONIC_USEC=…, STATUS=reloading", lines)
	}
	v, ok := strings.CutPrefix(lines[1], "MONOTONIC_USEC=")
	usec, err := strconv.ParseInt(v, 10, 64)
	if !ok || err != nil || usec < before || usec > after {
		t.Errorf("%q: want MONOTONIC_USEC between %d and %d", lines[1], before, after)
	}
}

// TestAbstractSocket: systemd may name an abstract socket, "@" first.
func TestAbstractSocket(t *testing.T) {
	conn := listen(t, "@ipipd-sdnotify-test-"+strconv.Itoa(unix.Getpid()))
	if err := Ready(""); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, conn); got != "READY=1\n" {
		t.Errorf("sent %q", got)
	}
}

// TestWithoutSystemd: no NOTIFY_SOCKET, nothing to do and no error, so the
// daemon runs the same from a shell.
func TestWithoutSystemd(t *testing.T) {
	t.Setenv(SocketEnv, "")
	if err := Ready("x"); err != nil {
		t.Fatal(err)
	}
}

func TestBadSocket(t *testing.T) {
	for _, tc := range []struct{ addr, says string }{
		{"relative/notify", "want an absolute path or an abstract socket"},
		{filepath.Join(t.TempDir(), "nobody"), "notifying systemd"},
	} {
		t.Setenv(SocketEnv, tc.addr)
		if err := Ready(""); err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s=%q: err %v, want one saying %q", SocketEnv, tc.addr, err, tc.says)
		}
	}
}

package control

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// staleSocket leaves a socket file at path that nothing listens on, as a
// daemon killed with SIGKILL leaves its control socket.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("no stale socket at %s: %v %v", path, fi, err)
	}
}

// TestRefusesWhatIsNotASocket: --control pointing at anything but a socket
// (a typo naming the config file, a directory) leaves it alone and says
// what was there and what would do.
func TestRefusesWhatIsNotASocket(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(t *testing.T, path string)
		says string
	}{
		{"regular file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("tunnels: []\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "a regular file (12 bytes) is there"},
		{"directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, "a directory is there"},
		{"symbolic link", func(t *testing.T, path string) {
			target := filepath.Join(filepath.Dir(path), "elsewhere.sock")
			staleSocket(t, target)
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}, "a symbolic link to "},
		{"named pipe", func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "a named pipe is there"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ipipd.sock")
			tc.make(t, path)
			before, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Listen(path, func(string) (any, error) { return 1, nil }, nil)
			if err == nil {
				s.Close()
				t.Fatalf("Listen took over %s", tc.name)
			}
			msg := err.Error()
			for _, want := range []string{path, tc.says, "not a socket", "--control a path that does not exist yet"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q lacks %q", msg, want)
				}
			}
			after, err := os.Lstat(path)
			if err != nil || !os.SameFile(before, after) || after.ModTime() != before.ModTime() {
				t.Errorf("Listen changed what was at %s: %v", path, err)
			}
		})
	}
}

package control

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"time"
)

// takeOver readies path for the daemon's socket. Nothing there is fine; a
// socket no daemon answers on (left by one that was killed) is removed. A
// socket a daemon answers on is refused, and so is anything that is not a
// socket: --control pointing at a file the operator keeps must not delete
// it. The check and the removal are not atomic; the directory is the
// operator's, as it is for any daemon's socket.
func takeOver(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("control socket %s: %s is there, not a socket; ipipd replaces only a socket a stopped daemon left, so move it away or give --control a path that does not exist yet", path, describe(path, fi))
	}
	if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
		conn.Close()
		return fmt.Errorf("control socket %s: another ipipd is running there; stop it or give this one its own --control path", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("control socket %s: removing the stale socket: %w", path, err)
	}
	return nil
}

// describe names what kind of file fi is, for takeOver's refusal.
func describe(path string, fi fs.FileInfo) string {
	switch m := fi.Mode(); m.Type() {
	case 0:
		return fmt.Sprintf("a regular file (%d bytes)", fi.Size())
	case fs.ModeDir:
		return "a directory"
	case fs.ModeSymlink:
		if target, err := os.Readlink(path); err == nil {
			return fmt.Sprintf("a symbolic link to %s", target)
		}
		return "a symbolic link"
	case fs.ModeNamedPipe:
		return "a named pipe"
	case fs.ModeDevice | fs.ModeCharDevice:
		return "a character device"
	case fs.ModeDevice:
		return "a block device"
	default:
		return "a " + m.Type().String() + " file"
	}
}

package e2e

import (
	"context"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipipd/ipipd/internal/engine"
	"github.com/ipipd/ipipd/internal/lab"
)

// makeTimeout bounds one make install or uninstall, a build included.
const makeTimeout = 5 * time.Minute

// The tree `make install DESTDIR=…` stages with the default PREFIX, and
// each file's mode.
var installedTree = map[string]fs.FileMode{
	"usr/local/bin/ipipd":                         0o755,
	"usr/local/lib/systemd/system/ipipd.service":  0o644,
	"usr/local/lib/systemd/system/ipipd@.service": 0o644,
	"etc/ipipd/ipipd.yaml":                        0o644,
	"etc/iproute2/rt_protos.d/ipipd.conf":         0o644,
}

// TestInstall stages `make install` in a directory (DESTDIR, as a packager
// does), checks what it put where, then runs the installed daemon as
// systemd would run the installed ipipd.service: its ExecStart command
// line, in a namespace the test makes, with NOTIFY_SOCKET naming a socket
// the test reads, as systemd's for a Type=notify unit.
//
// Checked: the files, their modes and the units' ExecStart (the binary
// where it lands without DESTDIR); the example config is contrib's and
// passes check; the binary names its commit; READY=1 comes from the
// daemon's own PID (NotifyAccess=main) only once its device, address,
// route and control socket are there, with a STATUS= naming the tunnel;
// SIGHUP brings RELOADING=1 with MONOTONIC_USEC, then READY=1 with the new
// tunnels; SIGTERM brings STOPPING=1 and exit 0; nothing else is sent.
func TestInstall(t *testing.T) {
	lab.Require(t)
	root := moduleRoot(t)
	dest := t.TempDir()
	runMake(t, root, "install", "DESTDIR="+dest)
	checkTree(t, dest, installedTree)
	example, err := os.ReadFile(filepath.Join(root, "contrib", "ipipd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "etc/ipipd/ipipd.yaml")); string(b) != string(example) {
		t.Error("the installed /etc/ipipd/ipipd.yaml is not contrib/ipipd.yaml")
	}
	unit := filepath.Join(dest, "usr/local/lib/systemd/system/ipipd.service")
	argv := execStart(t, unit)
	if want := "/usr/local/bin/ipipd run -c /etc/ipipd/ipipd.yaml"; strings.Join(argv, " ") != want {
		t.Errorf("ipipd.service: ExecStart=%s, want %s", strings.Join(argv, " "), want)
	}
	template := execStart(t, filepath.Join(dest, "usr/local/lib/systemd/system/ipipd@.service"))
	if want := "/usr/local/bin/ipipd run -c /etc/ipipd/%i.yaml --control /run/ipipd/%i.sock"; strings.Join(template, " ") != want {
		t.Errorf("ipipd@.service: ExecStart=%s, want %s", strings.Join(template, " "), want)
	}
	installed := filepath.Join(dest, argv[0])
	if _, stderr, err := lab.RunSplit(context.Background(), 10*time.Second, installed, "check", "-c", filepath.Join(dest, "etc/ipipd/ipipd.yaml")); err != nil {
		t.Errorf("the installed example does not pass ipipd check: %v\n%s", err, stderr)
	}
	checkVersion(t, root, installed)

	// systemd's side: the notify socket, and the unit's command line with
	// its file and control socket moved into the test's directory.
	dir := t.TempDir()
	notify := listenNotify(t, filepath.Join(dir, "notify"))
	config, control := filepath.Join(dir, "node1.yaml"), filepath.Join(dir, "ipipd.sock")
	if err := os.WriteFile(config, []byte(fallbackConfig(0, []int{1})), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"env", "NOTIFY_SOCKET=" + notify.path, installed}
	for _, a := range argv[1:] {
		if a == "/etc/ipipd/ipipd.yaml" {
			a = config
		}
		args = append(args, a)
	}
	args = append(args, "--control", control) // the unit relies on the default, /run/ipipd/ipipd.sock
	ns := lab.New(t, "install")
	started := time.Now()
	proc := ns.Start(t, args...)

	ready := notify.expect(t, proc, "READY=1", readyTimeout)
	t.Logf("READY=1 %v after start", time.Since(started).Round(time.Millisecond))
	if got, want := ready.status(), "running, 1 tunnel: tunl0"; got != want {
		t.Errorf("STATUS=%q with READY=1, want %q", got, want)
	}
	// Everything is up when READY=1 arrives: no waiting, no retry.
	var st engine.Status
	if err := lab.Show(context.Background(), installed, control, &st); err != nil || len(st.Tunnels) != 1 {
		t.Errorf("ipipd show at READY=1: %v, %d tunnels", err, len(st.Tunnels))
	}
	if out := ns.Run(t, "ip", "-4", "addr", "show", "dev", "tunl0"); !strings.Contains(out, tunnelAddr(0).String()+"/32") || !strings.Contains(out, "UP") {
		t.Errorf("tunl0 at READY=1 is not up with its address:\n%s", out)
	}
	if out := ns.Run(t, "ip", "route", "show", "dev", "tunl0"); !strings.Contains(out, tunnelSubnet(1).String()) {
		t.Errorf("tunl0's route at READY=1 is missing:\n%s", out)
	}

	// A reload to the installed example: two tunnels.
	if err := os.WriteFile(config, example, 0o644); err != nil {
		t.Fatal(err)
	}
	before := monotonicMicros(t)
	if err := proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	reloading := notify.expect(t, proc, "RELOADING=1", reloadTimeout)
	usec, err := strconv.ParseInt(reloading.vars["MONOTONIC_USEC"], 10, 64)
	if err != nil || usec < before || usec > monotonicMicros(t) {
		t.Errorf("RELOADING=1 with MONOTONIC_USEC=%q, want CLOCK_MONOTONIC µs after %d", reloading.vars["MONOTONIC_USEC"], before)
	}
	reloaded := notify.expect(t, proc, "READY=1", reloadTimeout)
	if got := reloaded.status(); !strings.HasPrefix(got, "running, 2 tunnels: ") || !strings.Contains(got, "tunl0") || !strings.Contains(got, "ipiptun") {
		t.Errorf("STATUS=%q with READY=1 after the reload, want running and the 2 tunnels\n%s", got, proc.Output())
	}

	if err := proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	notify.expect(t, proc, "STOPPING=1", lab.StopTimeout)
	if err := proc.Wait(lab.StopTimeout); err != nil {
		t.Errorf("after SIGTERM: %v, want exit 0", err)
	}
	if m, ok := notify.next(200 * time.Millisecond); ok {
		t.Errorf("sent after STOPPING=1: %q", m.text)
	}
}

// TestInstallPrefixAndUninstall: PREFIX moves the binary and ExecStart
// with it; uninstall removes every installed file but a config that is no
// longer the example, and a second install keeps that config.
func TestInstallPrefixAndUninstall(t *testing.T) {
	lab.Require(t)
	root := moduleRoot(t)
	dest := t.TempDir()
	runMake(t, root, "install", "DESTDIR="+dest, "PREFIX=/usr")
	if got := execStart(t, filepath.Join(dest, "usr/lib/systemd/system/ipipd.service")); got[0] != "/usr/bin/ipipd" {
		t.Errorf("PREFIX=/usr: ExecStart=%s, want /usr/bin/ipipd first", strings.Join(got, " "))
	}
	runMake(t, root, "uninstall", "DESTDIR="+dest, "PREFIX=/usr")
	checkTree(t, dest, nil) // the unchanged example went too

	runMake(t, root, "install", "DESTDIR="+dest)
	config := filepath.Join(dest, "etc/ipipd/ipipd.yaml")
	mine := []byte("tunnels: [{name: tunl0}]\n")
	if err := os.WriteFile(config, mine, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := runMake(t, root, "install", "DESTDIR="+dest); !strings.Contains(out, "keeping") {
		t.Errorf("a second install does not say it keeps the config:\n%s", out)
	}
	out := runMake(t, root, "uninstall", "DESTDIR="+dest)
	if !strings.Contains(out, "kept "+config) {
		t.Errorf("uninstall does not name the config it kept:\n%s", out)
	}
	checkTree(t, dest, map[string]fs.FileMode{"etc/ipipd/ipipd.yaml": 0o644})
	if b, _ := os.ReadFile(config); string(b) != string(mine) {
		t.Errorf("install or uninstall changed the operator's config: %q", b)
	}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := lab.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// runMake runs make TARGET VARS... in the module's root and returns its
// output. The binary is built into the test's directory (BIN), so the
// checkout's bin/ is left alone.
func runMake(t *testing.T, root string, target string, vars ...string) string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("this test needs make: apt-get install -y make")
	}
	ctx, cancel := context.WithTimeout(context.Background(), makeTimeout)
	defer cancel()
	args := append([]string{"-C", root, target, "BIN=" + filepath.Join(t.TempDir(), "ipipd")}, vars...)
	cmd := exec.CommandContext(ctx, "make", args...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// checkTree fails the test unless the files under dest (directories
// aside) are exactly want, with want's modes.
func checkTree(t *testing.T, dest string, want map[string]fs.FileMode) {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(dest, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dest, path)
		seen[rel] = true
		mode, ok := want[rel]
		if !ok {
			t.Errorf("%s is installed, and should not be", rel)
			return nil
		}
		if fi, err := d.Info(); err != nil || fi.Mode() != mode {
			t.Errorf("%s: mode %v (%v), want %v", rel, fi.Mode(), err, mode)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for rel := range want {
		if !seen[rel] {
			t.Errorf("%s is not installed", rel)
		}
	}
}

// execStart is a unit's ExecStart= command line, split into arguments
// (ipipd's units quote nothing).
func execStart(t *testing.T, unit string) []string {
	t.Helper()
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			argv := strings.Fields(v)
			if len(argv) == 0 || !filepath.IsAbs(argv[0]) {
				t.Fatalf("%s: ExecStart=%s does not start with an absolute path", unit, v)
			}
			return argv
		}
	}
	t.Fatalf("%s has no ExecStart=", unit)
	return nil
}

// checkVersion: the installed binary names the checkout's commit when
// make could read it with git (a tarball build says "unknown").
func checkVersion(t *testing.T, root, binary string) {
	t.Helper()
	out, stderr, err := lab.RunSplit(context.Background(), 10*time.Second, binary, "version")
	if err != nil || !strings.HasPrefix(out, "ipipd ") {
		t.Fatalf("ipipd version: %v\n%s%s", err, out, stderr)
	}
	if exec.Command("git", "-C", root, "rev-parse", "--git-dir").Run() != nil {
		t.Logf("%s is not a git checkout ipipd's build can read; ipipd version says:\n%s", root, out)
		return
	}
	if !regexp.MustCompile(`(?m)^revision  [0-9a-f]{40}(\+dirty)? `).MatchString(out) {
		t.Errorf("ipipd version names no commit:\n%s", out)
	}
}

// monotonicMicros is CLOCK_MONOTONIC in µs, MONOTONIC_USEC's clock.
func monotonicMicros(t *testing.T) int64 {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return ts.Nano() / 1000
}

// notifySocket is systemd's end of sd_notify for the test: a datagram
// socket that receives the sender's credentials, as systemd's does to
// enforce NotifyAccess=.
type notifySocket struct {
	path string
	conn *net.UnixConn
}

// notification is one datagram: its assignments and the sender's PID.
type notification struct {
	text string
	vars map[string]string
	pid  int
}

func (n notification) status() string { return n.vars["STATUS"] }

func listenNotify(t *testing.T, path string) *notifySocket {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	raw, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	}); err != nil || serr != nil {
		t.Fatalf("SO_PASSCRED: %v %v", err, serr)
	}
	return &notifySocket{path: path, conn: conn}
}

// next reads one notification, waiting up to timeout.
func (s *notifySocket) next(timeout time.Duration) (notification, bool) {
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	s.conn.SetReadDeadline(time.Now().Add(timeout))
	n, oobn, _, _, err := s.conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return notification{}, false
	}
	m := notification{text: string(buf[:n]), vars: map[string]string{}}
	for _, line := range strings.Split(m.text, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m.vars[k] = v
		}
	}
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(msgs) == 1 {
		if cred, err := unix.ParseUnixCredentials(&msgs[0]); err == nil {
			m.pid = int(cred.Pid)
		}
	}
	return m, true
}

// expect waits up to timeout for the next notification, failing the test
// unless it carries want (such as READY=1) and comes from the daemon's PID.
func (s *notifySocket) expect(t *testing.T, proc *lab.Process, want string, timeout time.Duration) notification {
	t.Helper()
	key, value, _ := strings.Cut(want, "=")
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		m, ok := s.next(100 * time.Millisecond)
		if !ok {
			if proc.Exited() {
				t.Fatalf("ipipd exited (%v) before sending %s; its output:\n%s", proc.Wait(0), want, proc.Output())
			}
			continue
		}
		if m.vars[key] != value {
			t.Fatalf("ipipd sent %q, want %s next; its output:\n%s", m.text, want, proc.Output())
		}
		if m.pid != proc.Pid() {
			t.Errorf("%s came from PID %d, not the daemon's %d: systemd's NotifyAccess=main would drop it", want, m.pid, proc.Pid())
		}
		return m
	}
	t.Fatalf("no %s within %v; ipipd's output:\n%s", want, timeout, proc.Output())
	return notification{}
}

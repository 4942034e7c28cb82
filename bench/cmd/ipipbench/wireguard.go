package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

// The wireguard-go case: the userspace tunnel in Go that users already
// run, and the one ipipd is measured against. One wireguard-go per
// namespace, configured with wg(8) as a user would: keys from `wg genkey`
// and `wg pubkey`, the peer with `wg set`, address and MTU with ip.
const (
	// wireGuardModule is the module whose root package is the wireguard-go
	// command. Its version is the one ipipd's go.mod requires (ipipd uses
	// its tun package), so the daemon measured is the code ipipd borrows.
	wireGuardModule = "golang.zx2c4.com/wireguard"
	// wireGuardMTU is the largest inner packet that fits a 1500-byte IPv4
	// underlay: 1500 − 20 (IPv4) − 8 (UDP) − 32 (WireGuard header and tag).
	// wg-quick's default of 1420 leaves room for an IPv6 underlay, which
	// this one is not; with 1420, iperf3's 1400-byte datagrams (1428-byte
	// packets) would be fragmented.
	wireGuardMTU  = 1440
	wireGuardPort = 51820
	// wireGuardBuildTimeout bounds `go install`, module downloads included.
	wireGuardBuildTimeout = 5 * time.Minute
)

// wireGuardDev names the TUN device of a side. wireguard-go's control
// socket is /var/run/wireguard/DEV.sock, on the host's file system, not
// in the namespace: the name carries the run's PID so that both sides,
// and runs side by side, never share a socket. At most 15 bytes.
func wireGuardDev(sideName string) string {
	return fmt.Sprintf("wgb%d%s", os.Getpid()%10000000, strings.ToLower(sideName))
}

// wireGuardBinary returns the -wireguard-go path made absolute, or the
// wireguard-go command built from the module version go.mod requires,
// into the user's cache directory (ipipbench/wireguard-go@VERSION/): built
// once, reused by later runs, never inside the repository.
func wireGuardBinary(ctx context.Context, given string, m *meta) (string, error) {
	if given != "" {
		p, err := filepath.Abs(given)
		if err != nil {
			return "", err
		}
		if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("-wireguard-go %s: not an executable file", given)
		}
		m.WireGuardGo = p + " " + wireGuardVersion(ctx, p)
		return p, nil
	}
	root, err := lab.ModuleRoot()
	if err != nil {
		return "", err
	}
	gocmd, err := lab.GoCommand()
	if err != nil {
		return "", err
	}
	out, errOut, err := lab.RunSplit(ctx, cmdTimeout, gocmd, "-C", root, "list", "-m", "-f", "{{.Version}}", wireGuardModule)
	version := strings.TrimSpace(out)
	if err != nil || version == "" {
		return "", fmt.Errorf("the %s version go.mod requires: go list -m: %v %s", wireGuardModule, err, tail(errOut, 3))
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for wireguard-go (%v); pass -wireguard-go", err)
	}
	dir := filepath.Join(cache, "ipipbench", "wireguard-go@"+version)
	bin := filepath.Join(dir, "wireguard")
	m.WireGuardGo = fmt.Sprintf("%s@%s (go install into %s)", wireGuardModule, version, dir)
	if st, err := os.Stat(bin); err == nil && st.Mode()&0o111 != 0 {
		m.WireGuardGo += ", " + wireGuardVersion(ctx, bin)
		return bin, nil
	}
	// Installed into a directory of its own, then renamed into place: a
	// build cut short leaves no binary that a later run would take.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	bctx, cancel := context.WithTimeout(ctx, wireGuardBuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(bctx, gocmd, "install", wireGuardModule+"@"+version)
	cmd.Env = append(os.Environ(), "GOBIN="+tmp)
	cmd.WaitDelay = time.Second
	if b, err := cmd.CombinedOutput(); err != nil {
		if errors.Is(bctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("timed out after %v", wireGuardBuildTimeout)
		}
		return "", fmt.Errorf("go install %s@%s: %v: %s (or pass -wireguard-go)", wireGuardModule, version, err, tail(string(b), 5))
	}
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, os.ErrExist) && !isNotEmpty(err) {
		return "", err
	}
	m.WireGuardGo += ", " + wireGuardVersion(ctx, bin)
	return bin, nil
}

// isNotEmpty is rename's error when another run put the directory in
// place first; its binary is as good as this one.
func isNotEmpty(err error) bool { return errors.Is(err, syscall.ENOTEMPTY) }

// wireGuardVersion is the first line of `wireguard-go --version`.
func wireGuardVersion(ctx context.Context, bin string) string {
	out, err := lab.Run(ctx, cmdTimeout, bin, "--version")
	if err != nil {
		return "(version unknown)"
	}
	if l := lab.TailLines(out, 100); len(l) > 0 {
		return l[0]
	}
	return "(version unknown)"
}

// wireGuardKeys writes a private key per side into dir (mode 0600, read by
// `wg set … private-key FILE`) and returns the key files and public keys.
func wireGuardKeys(ctx context.Context, dir string) (files, public [2]string, err error) {
	for i := range 2 {
		priv, err := lab.Run(ctx, cmdTimeout, "wg", "genkey")
		if err != nil {
			return files, public, err
		}
		files[i] = filepath.Join(dir, fmt.Sprintf("wg-%d.key", i))
		if err := os.WriteFile(files[i], []byte(priv), 0o600); err != nil {
			return files, public, err
		}
		pub, err := runInput(ctx, priv, "wg", "pubkey")
		if err != nil {
			return files, public, err
		}
		public[i] = strings.TrimSpace(pub)
	}
	return files, public, nil
}

// runInput is run with input on the command's stdin.
func runInput(ctx context.Context, input, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(input)
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out), nil
}

// setupWireGuard starts wireguard-go in each namespace, then configures
// each side as `wg set DEV private-key K listen-port 51820 peer P endpoint
// PEER:51820 allowed-ips PEER_INNER/32`, `ip addr add`, `ip link set mtu
// 1440 up`. The device must be a TUN (`ip -d link`): wireguard-go is
// userspace by its nature, and a kernel WireGuard interface would not be.
func setupWireGuard(ctx context.Context, e *env) (*caseInstance, error) {
	if e.wireGuard == "" {
		return nil, fmt.Errorf("no wireguard-go binary: %v", e.wireGuardErr)
	}
	if _, err := exec.LookPath("wg"); err != nil {
		return nil, errors.New("no wg command (wireguard-tools; scripts/deps.sh installs it)")
	}
	keys, pub, err := wireGuardKeys(ctx, e.dir)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	sides := e.topo.sides()
	inner := [2]string{"192.168.97.1", "192.168.97.2"}
	inst := &caseInstance{client: inner[0], server: inner[1]}
	inst.teardown = func() error {
		var errs []error
		for _, d := range inst.daemons {
			errs = append(errs, d.stop())
		}
		return errors.Join(errs...)
	}
	fail := func(err error) (*caseInstance, error) {
		inst.teardown()
		return nil, err
	}
	for _, s := range sides {
		d, err := startWireGuard(ctx, s, e.wireGuard)
		if err != nil {
			return fail(err)
		}
		inst.daemons = append(inst.daemons, d)
	}
	for i, s := range sides {
		dev := inst.daemons[i].dev
		peer := 1 - i
		steps := [][]string{
			{"wg", "set", dev, "private-key", keys[i], "listen-port", fmt.Sprint(wireGuardPort),
				"peer", pub[peer], "endpoint", fmt.Sprintf("%s:%d", s.peer, wireGuardPort), "allowed-ips", inner[peer] + "/32"},
			{"ip", "addr", "add", inner[i] + "/24", "dev", dev},
			{"ip", "link", "set", "dev", dev, "mtu", fmt.Sprint(wireGuardMTU), "up"},
		}
		for _, st := range steps {
			if _, err := lab.Run(ctx, cmdTimeout, "ip", inNS(s.ns, st...)...); err != nil {
				return fail(fmt.Errorf("wireguard-go in %s: %w", s.name, err))
			}
		}
	}
	for _, d := range inst.daemons {
		info := tunDetails(ctx, d.ns, d.dev)
		if !strings.HasPrefix(info, "tun type tun") {
			return fail(fmt.Errorf("wireguard-go in %s: %s is not a TUN device (%s): not userspace WireGuard", d.side, d.dev, info))
		}
		inst.notes = append(inst.notes, fmt.Sprintf("%s: %s, TUN %s", d.side, d.dev, info))
	}
	return inst, nil
}

// startWireGuard runs `wireguard-go -f DEV` in s's namespace and returns
// once its control socket answers `wg show DEV`.
func startWireGuard(ctx context.Context, s side, binary string) (*daemon, error) {
	dev := wireGuardDev(s.name)
	d := &daemon{kind: kindWireGuard, side: s.name, ns: s.ns, binary: binary, dev: dev, out: lab.LockedBuffer{Limit: outputLimit}}
	o := lab.Options{Output: &d.out, DeathSignal: syscall.SIGKILL}
	// env execs the binary in place, as ip netns exec does: the PID is
	// wireguard-go's. WG_PROCESS_FOREGROUND=1 drops the banner that says the
	// kernel module would do; LOG_LEVEL=error is its default, made explicit.
	proc, err := lab.Start(s.ns, o, "env", "WG_PROCESS_FOREGROUND=1", "LOG_LEVEL=error", binary, "-f", dev)
	if err != nil {
		return nil, fmt.Errorf("wireguard-go in %s: %w", s.name, err)
	}
	d.proc = proc
	answers := func(ctx context.Context) error {
		_, err := lab.Run(ctx, cmdTimeout, "ip", inNS(s.ns, "wg", "show", dev)...)
		return err
	}
	if err := proc.WaitReady(ctx, readyTimeout, 100*time.Millisecond, answers); err != nil {
		d.stop()
		return nil, fmt.Errorf("wireguard-go in %s: %w: %s", s.name, err, d.logTail(6))
	}
	if d.pid, err = d.findPID(); err != nil {
		d.stop()
		return nil, err
	}
	return d, nil
}

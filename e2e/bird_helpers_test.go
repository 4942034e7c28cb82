package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
	"os"
)

// birdConfigTemplate is the BIRD configuration every node of TestBIRD
// runs, filled in with the node's addresses and peers.
const birdConfigTemplate = "testdata/bird/node.conf"

// birdCommandTimeout bounds `bird --version`, `bird -p` and every birdc.
const birdCommandTimeout = 10 * time.Second

// requireBIRD returns the version line of BIRD when BIRD 2.0.12 or later
// (Debian's bird2: bird and birdc) is installed. Otherwise it skips the
// test with the lab gate's loud wording, or fails it when
// IPIPD_E2E_REQUIRED=1: scripts/deps.sh installs bird2 for `make test` and
// CI.
func requireBIRD(t *testing.T) string {
	t.Helper()
	for _, cmd := range []string{"bird", "birdc"} {
		if _, err := exec.LookPath(cmd); err != nil {
			lab.SkipOrFail(t, fmt.Sprintf("needs %s from BIRD 2 in PATH (apt-get install bird2, or scripts/deps.sh)", cmd))
		}
	}
	stdout, stderr, err := lab.RunSplit(context.Background(), birdCommandTimeout, "bird", "--version")
	out := strings.TrimSpace(stdout + stderr)
	if err != nil {
		t.Fatalf("bird --version: %v: %s", err, out)
	}
	// Setting onlink in a filter, which the configuration needs, came in
	// BIRD 2.0.12.
	m := regexp.MustCompile(`BIRD version (\d+)\.(\d+)\.(\d+)`).FindStringSubmatch(out)
	if m == nil || atoi(m[1]) < 2 || m[1] == "2" && m[2] == "0" && atoi(m[3]) < 12 {
		lab.SkipOrFail(t, fmt.Sprintf("needs BIRD 2.0.12 or later (setting the onlink attribute in a filter); bird --version says %q", out))
	}
	t.Logf("%s", m[0])
	return m[0]
}

// atoi is strconv.Atoi for digits a regexp matched.
func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// birdPeer is one BGP neighbour in the configuration template.
type birdPeer struct {
	Name string // the protocol's name: node1, node2, …
	Addr string // its underlay address
}

// birdNode is one BIRD daemon in a node's namespace, with its own
// configuration file, control socket and pid file.
type birdNode struct {
	ns      *lab.NS
	name    string
	config  string
	control string
	pidFile string
	proc    *lab.Process // the running bird, nil before start
}

// newBIRDNode writes node i's configuration (of the n nodes on the LAN:
// iBGP to every other one, its block tunnelSubnet(i) announced) and checks
// it with `bird -p`.
func newBIRDNode(t *testing.T, ns *lab.NS, i, n int) *birdNode {
	t.Helper()
	dir := t.TempDir()
	b := &birdNode{
		ns:      ns,
		name:    fmt.Sprintf("node%d", i+1),
		config:  filepath.Join(dir, "bird.conf"),
		control: filepath.Join(dir, "bird.ctl"),
		pidFile: filepath.Join(dir, "bird.pid"),
	}
	if len(b.control) > 100 { // sun_path holds 108 bytes
		t.Fatalf("BIRD control socket path %q is too long for a unix socket", b.control)
	}
	tmpl, err := template.ParseFiles(birdConfigTemplate)
	if err != nil {
		t.Fatal(err)
	}
	data := struct {
		Local, Block string
		Peers        []birdPeer
	}{Local: underlayAddr(i).String(), Block: tunnelSubnet(i).String()}
	for _, j := range others(i, n) {
		data.Peers = append(data.Peers, birdPeer{Name: fmt.Sprintf("node%d", j+1), Addr: underlayAddr(j).String()})
	}
	var conf strings.Builder
	if err := tmpl.Execute(&conf, data); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.config, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := lab.RunSplit(context.Background(), birdCommandTimeout, "bird", "-p", "-c", b.config)
	if err != nil {
		t.Fatalf("%s: bird -p -c %s refuses the configuration: %v: %s%s\n%s", b.name, b.config, err, stdout, stderr, conf.String())
	}
	return b
}

// start runs `bird -f -c CONFIG -s CONTROL -P PIDFILE` in the node's
// namespace: in the foreground, logging to stderr, so lab stops it at
// the end of the test (SIGTERM, then SIGKILL) and shows its log if the
// test failed, and a dying test binary takes it along (SIGKILL).
func (b *birdNode) start(t *testing.T) {
	t.Helper()
	b.proc = b.ns.Start(t, "bird", "-f", "-c", b.config, "-s", b.control, "-P", b.pidFile)
}

// stop sends SIGTERM, as `systemctl stop bird` does: BIRD closes its
// sessions with a Cease, so the peers withdraw its routes at once, and
// removes the routes it installed in its own kernel.
func (b *birdNode) stop(t *testing.T) {
	t.Helper()
	if err := b.proc.Stop(lab.StopTimeout); errors.Is(err, lab.ErrKilled) {
		t.Fatalf("%s: bird ignored SIGTERM: %v; its output:\n%s", b.name, err, b.proc.Output())
	}
}

// protocols returns `birdc show protocols`, for messages.
func (b *birdNode) protocols() string {
	stdout, stderr, err := lab.RunSplit(context.Background(), birdCommandTimeout, "birdc", "-s", b.control, "show", "protocols")
	if err != nil {
		return fmt.Sprintf("birdc -s %s show protocols: %v: %s", b.control, err, stderr)
	}
	return stdout
}

// birdRoute is the line `ip route` shows for the route BIRD installs on a
// node to node peer's block: the seed's `ip r add SUBNET via HOST dev tunl0
// onlink`, with BIRD as its protocol.
func birdRoute(peer int) string {
	return fmt.Sprintf("%s via %s dev tunl0 proto bird onlink", tunnelSubnet(peer), underlayAddr(peer))
}

// kernelBIRDRoutes returns the lines of `ip route show` (the main table)
// in ns that BIRD installed, sorted, and every other line apart.
func kernelBIRDRoutes(t *testing.T, ns *lab.NS) (bird, other []string) {
	t.Helper()
	for line := range strings.Lines(ns.Run(t, "ip", "route", "show")) {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.Contains(line, " proto bird"):
			bird = append(bird, line)
		default:
			other = append(other, line)
		}
	}
	slices.Sort(bird)
	return bird, other
}

// waitBIRDRoutes waits until the routes BIRD installed in node i's kernel
// are exactly those to the blocks of peers (birdRoute), and fails the test
// after timeout, quoting the routes and every BIRD's view of its sessions.
// No blackhole may reach the kernel: the blocks stay in BIRD.
func waitBIRDRoutes(t *testing.T, l *lan, i int, peers []int, birds []*birdNode, timeout time.Duration) {
	t.Helper()
	var want []string
	for _, p := range peers {
		want = append(want, birdRoute(p))
	}
	slices.Sort(want)
	deadline := time.Now().Add(timeout)
	for {
		got, other := kernelBIRDRoutes(t, l.nodes[i])
		for _, line := range other {
			if strings.HasPrefix(line, "blackhole") || strings.HasPrefix(line, "unreachable") {
				t.Fatalf("node%d: the kernel holds %q; the announced blocks must stay in BIRD", i+1, line)
			}
		}
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			var sessions strings.Builder
			for _, b := range birds {
				fmt.Fprintf(&sessions, "%s:\n%s\n", b.name, b.protocols())
			}
			t.Fatalf("node%d: BIRD's routes in the kernel after %v:\n  %s\nwant:\n  %s\nother routes:\n  %s\nsessions:\n%s",
				i+1, timeout, strings.Join(got, "\n  "), strings.Join(want, "\n  "), strings.Join(other, "\n  "), sessions.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tunTxPackets reads the kernel's tx_packets of tunl0 in ns: the packets
// the kernel handed to ipipd through the TUN device.
func tunTxPackets(t *testing.T, ns *lab.NS) uint64 {
	t.Helper()
	out := ns.Run(t, "ip", "-s", "-j", "link", "show", "dev", "tunl0")
	var links []struct {
		Stats struct {
			TX struct {
				Packets uint64 `json:"packets"`
			} `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		t.Fatalf("in %s: ip -s -j link show dev tunl0: %v: %s", ns, err, out)
	}
	return links[0].Stats.TX.Packets
}

// outerPacketsTo sends UDP from node i's tunnel address to dst through
// tunl0 (a socket bound to the device, so the packets enter tunl0 whether
// a route leads there or not) for window, and counts the outer packets
// node i puts on its underlay for outer, as capt (openSendCapture on its
// eth0) sees them; it also returns how many packets
// the kernel handed to tunl0 meanwhile.
func outerPacketsTo(t *testing.T, l *lan, i int, capt *capture, dst, outer netip.Addr, window time.Duration) (sent int, intoTUN uint64) {
	t.Helper()
	ns := l.nodes[i]
	capt.drain()
	before := tunTxPackets(t, ns)
	stop := sendUDPEvery(t, ns, tunnelAddr(i), dst, "tunl0", 20*time.Millisecond)
	end := time.Now().Add(window)
	for {
		p, err := capt.next(end)
		if err != nil {
			break
		}
		if to, ok := outerTo(p, dst); ok && to == outer {
			sent++
		}
	}
	stop()
	return sent, tunTxPackets(t, ns) - before
}

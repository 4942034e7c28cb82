package e2e

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/ipipd/ipipd/internal/lab"
)

// capturedPacket is one packet of a pcapng file, decoded.
type capturedPacket struct {
	intf    string
	comment string
	ip      *layers.IPv4 // the first header: outer or inner
	inner   *layers.IPv4 // the inner header of an outer packet, else nil
	icmp    *layers.ICMPv4
}

// readPcapng reads every packet of a pcapng file with gopacket's reader,
// which knows nothing of ipipd.
func readPcapng(t *testing.T, path string) []capturedPacket {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatalf("%s is not pcapng: %v", path, err)
	}
	var out []capturedPacket
	for {
		data, ci, opts, err := r.ReadPacketDataWithOptions()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		intf, err := r.Interface(ci.InterfaceIndex)
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(data, layers.LayerTypeIPv4, gopacket.Default)
		c := capturedPacket{intf: intf.Name, comment: strings.Join(opts.Comments, "\n")}
		for _, l := range p.Layers() {
			if ip, ok := l.(*layers.IPv4); ok {
				if c.ip == nil {
					c.ip = ip
				} else if c.inner == nil {
					c.inner = ip
				}
			}
		}
		c.icmp, _ = p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		out = append(out, c)
	}
}

// TestPcapTrace runs `ipipd trace --pcap FILE` against node1 while it pings
// node2 across tunl0, then reads FILE with gopacket's pcapng reader: each
// echo request is there as the inner packet read from tunl0 and the outer
// packet built for node2, each reply as the outer packet received on eth0
// and the inner one written into tunl0, all with comments naming the
// verdict and the kernel step that decided it. tcpdump opens it too.
func TestPcapTrace(t *testing.T) {
	lab.Require(t)
	l := newLAN(t, 2)
	node1 := startDaemon(t, l.nodes[0], "node1", fallbackConfig(0, []int{1}))
	startDaemon(t, l.nodes[1], "node2", fallbackConfig(1, []int{0}))
	warmUp(t, l.nodes[0], tunnelAddr(1))

	file := filepath.Join(t.TempDir(), "ping.pcapng")
	trace := exec.Command(ipipdBin, "trace", "--control", node1.control, "--pcap", file, "--pcap-size", "10MB")
	var stderr lab.LockedBuffer
	trace.Stderr = &stderr
	if err := trace.Start(); err != nil {
		t.Fatal(err)
	}
	defer trace.Process.Kill()

	// The file's first packet is written out at once: ping until it is.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(file); err == nil && fi.Size() > 100 {
			break
		}
		l.nodes[0].Ping(tunnelAddr(1), time.Second)
		time.Sleep(50 * time.Millisecond)
	}
	if err := pingThenInterrupt(t, l, trace, "ipipd trace --pcap"); err != nil {
		t.Fatalf("ipipd trace --pcap did not exit 0 on Ctrl-C: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "packets written to "+file) {
		t.Errorf("trace --pcap did not say what it wrote:\n%s", stderr.String())
	}

	// NS.Ping's echo requests carry "ipipd"; the replies echo it.
	isPing := func(c capturedPacket, typ uint8) bool {
		return c.icmp != nil && c.icmp.TypeCode.Type() == typ && bytes.Equal(c.icmp.Payload, []byte("ipipd"))
	}
	type want struct {
		name    string
		intf    string
		outer   bool
		icmp    uint8
		src     string
		comment string
	}
	wants := []want{
		{"request read from tunl0", "tunl0", false, layers.ICMPv4TypeEchoRequest, tunnelAddr(0).String(),
			"tx inner packet read from tunl0: verdict send, decided by iptunnel_xmit\n"},
		{"request's outer packet", "underlay", true, layers.ICMPv4TypeEchoRequest, "0.0.0.0",
			"tx outer packet built: verdict send, decided by iptunnel_xmit\n"},
		{"reply received on eth0", "eth0", true, layers.ICMPv4TypeEchoReply, underlayAddr(1).String(),
			"rx outer packet received on eth0: verdict deliver, decided by ip_tunnel_rcv → gro_cells_receive\n"},
		{"reply written into tunl0", "tunl0", false, layers.ICMPv4TypeEchoReply, tunnelAddr(1).String(),
			"rx inner packet written into tunl0: verdict deliver, decided by ip_tunnel_rcv → gro_cells_receive\n"},
	}
	pkts := readPcapng(t, file)
	for _, w := range wants {
		found := 0
		for _, c := range pkts {
			if c.intf != w.intf || !isPing(c, w.icmp) || (c.inner != nil) != w.outer || c.ip.SrcIP.String() != w.src {
				continue
			}
			found++
			if !strings.HasPrefix(c.comment, w.comment) || !strings.Contains(c.comment, "ip_tunnel_lookup: tunl0") && w.icmp == layers.ICMPv4TypeEchoReply {
				t.Errorf("%s: comment\n%s\nwant it to start with\n%s", w.name, c.comment, w.comment)
			}
		}
		if found < 3 {
			t.Errorf("%s: %d packets in the capture, want at least 3 (one per ping)", w.name, found)
		}
	}
	if t.Failed() {
		for _, c := range pkts {
			t.Logf("%s: %v > %v: %q", c.intf, c.ip.SrcIP, c.ip.DstIP, c.comment)
		}
	}
	if _, err := exec.LookPath("tcpdump"); err == nil {
		out, err := exec.Command("tcpdump", "-nr", file).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "ICMP echo request") {
			t.Errorf("tcpdump -r %s: %v\n%s", file, err, out)
		}
	}
}

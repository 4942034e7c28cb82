package explain

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/ipipd/ipipd/internal/config"
	"github.com/ipipd/ipipd/internal/engine"
	"github.com/ipipd/ipipd/internal/hexfile"
	"github.com/ipipd/ipipd/internal/pcapng"
)

// node2 is the seed mesh's second node: its tunl0 receives the seed's echo.
const node2 = `
tunnels:
  - name: tunl0
    mtu: 1480
    addresses: [192.168.42.0/32]
    routes:
      - {to: 192.168.41.0/24, via: 10.245.1.2}
`

func explainer(t *testing.T) *Explainer {
	t.Helper()
	cfg, err := config.Parse("node2.yaml", []byte(node2))
	if err != nil {
		t.Fatal(err)
	}
	x, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func seedEcho(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../../decap/testdata/seeds/seed-echo.hex")
	if err != nil {
		t.Fatal(err)
	}
	pkt, err := hexfile.Parse(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return pkt
}

func explainString(x *Explainer, pkt []byte) string {
	var b strings.Builder
	x.Packet(&b, pkt, Options{Link: 2, PathMTU: 1500})
	return b.String()
}

func TestReceiveAndTransmit(t *testing.T) {
	x := explainer(t)
	pkt := seedEcho(t)
	got := explainString(x, pkt)
	for _, want := range []string{`2. ip_tunnel_lookup(remote=10.245.1.2, local=10.245.1.3, link=2): tunnel "tunl0"`, "3. ECN decapsulate: outer not-ect, inner not-ect: unchanged", `4. deliver into TUN "tunl0"`, "verdict: deliver\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("receive lacks %q:\n%s", want, got)
		}
	}
	if !bytes.Equal(pkt, seedEcho(t)) {
		t.Errorf("explaining changed the packet")
	}
	reply := pkt[20:]
	copy(reply[12:16], []byte{192, 168, 42, 0})
	copy(reply[16:20], []byte{192, 168, 41, 5})
	got = explainString(x, reply)
	if !strings.Contains(got, "3. iptunnel_xmit: "+engine.OuterSource(header0())+" > 10.245.1.2") || !strings.Contains(got, "verdict: send") {
		t.Errorf("transmit does not name the outer source as trace does:\n%s", got)
	}
}

// TestReadCaptures: every frame of a pcap (Ethernet) and of a pcapng (the
// IPv4 link type and comments ipipd trace --pcap writes) is read, frames
// that hold no IPv4 packet say so, and hex stays one packet.
func TestReadCaptures(t *testing.T) {
	dir := t.TempDir()
	pkt := seedEcho(t)
	eth := append([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00}, pkt...)
	arp := append([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x06}, make([]byte, 28)...)
	vlan := append([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x81, 0x00, 0, 7, 0x08, 0x00}, pkt...)

	pcapPath := filepath.Join(dir, "eth.pcap")
	f, err := os.Create(pcapPath)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	for _, frame := range [][]byte{eth, arp, vlan} {
		w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Now(), CaptureLength: len(frame), Length: len(frame)}, frame)
	}
	f.Close()
	frames, err := Read(pcapPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 3 || !bytes.Equal(frames[0].Data, pkt) || frames[1].Data != nil || !strings.Contains(frames[1].Skipped, "0x0806") || !bytes.Equal(frames[2].Data, pkt) {
		t.Fatalf("pcap frames: %+v", frames)
	}
	if frames[0].Number != 1 || frames[2].Number != 3 {
		t.Errorf("frames are numbered %d..%d, want 1..3", frames[0].Number, frames[2].Number)
	}

	ngPath := filepath.Join(dir, "trace.pcapng")
	nw, err := pcapng.Create(ngPath, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	nw.Write(pcapng.Packet{Time: time.Now(), Interface: "eth0", Data: pkt, Comment: "rx outer packet received on eth0: verdict deliver"})
	nw.Write(pcapng.Packet{Time: time.Now(), Interface: "tunl0", Data: pkt[20:], Comment: "rx inner packet written into tunl0: verdict deliver"})
	nw.Close()
	frames, err = Read(ngPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 2 || frames[0].Interface != "eth0" || frames[1].Interface != "tunl0" || !strings.Contains(frames[0].Comment, "verdict deliver") || !bytes.Equal(frames[1].Data, pkt[20:]) {
		t.Fatalf("pcapng frames: %+v", frames)
	}

	hexPath := filepath.Join(dir, "echo.hex")
	os.WriteFile(hexPath, []byte(hexfile.Format("echo", pkt)), 0o644)
	if frames, err = Read(hexPath); err != nil || len(frames) != 1 || frames[0].Number != 0 || !bytes.Equal(frames[0].Data, pkt) {
		t.Errorf("hex file: %v %+v", err, frames)
	}
	if frames, err = Read("4500"); err != nil || len(frames) != 1 || !bytes.Equal(frames[0].Data, []byte{0x45, 0}) {
		t.Errorf("hex argument: %v %+v", err, frames)
	}
}

// header0 is 0.0.0.0: the source a tunnel without local writes.
func header0() netip.Addr { return netip.IPv4Unspecified() }

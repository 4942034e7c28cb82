package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipipd/ipipd/internal/engine"
	"github.com/ipipd/ipipd/internal/header"
	"github.com/ipipd/ipipd/internal/lab"
)

// TestPeersMesh: the seed's three-node mesh, node2 pinging node1 five
// times and node3 three times. node1's tunl0 counts each peer apart, by
// the underlay address it came from and went to, as `wg show` does per
// peer: 5 echo requests in from 10.245.1.3 and 5 replies out to it, 3 and
// 3 for 10.245.1.4, matching what each peer's own daemon counts toward
// node1. `show -s` and `show -j -s` print them.
func TestPeersMesh(t *testing.T) {
	lab.Require(t)
	requirePing(t)
	l := newLAN(t, 3)
	daemons := make([]*daemon, 3)
	for i, ns := range l.nodes {
		daemons[i] = startDaemon(t, ns, fmt.Sprintf("node%d", i+1), fallbackConfig(i, others(i, 3), "mtu: 1480"))
	}
	counts := map[int]int{1: 5, 2: 3} // node index → pings sent to node1
	for i, n := range counts {
		out, ok := ping(l.nodes[i], "-c", strconv.Itoa(n), "-i", "0.2", tunnelAddr(0).String())
		if !ok || !strings.Contains(out, fmt.Sprintf("%d packets transmitted, %d received", n, n)) {
			t.Fatalf("node%d → node1, %d pings: %s", i+1, n, out)
		}
	}
	node1 := daemons[0].tunnel(t, "tunl0")
	peers := map[netip.Addr]engine.PeerStats{}
	for _, p := range node1.Peers {
		peers[p.Addr] = p
	}
	if len(peers) != len(counts) {
		t.Errorf("node1 tunl0 peers %+v, want one per pinging node", node1.Peers)
	}
	for i, n := range counts {
		p, ok := peers[underlayAddr(i)]
		if !ok {
			t.Errorf("node1 tunl0 has no peer %v (node%d)", underlayAddr(i), i+1)
			continue
		}
		if p.RxPackets != uint64(n) || p.TxPackets != uint64(n) || p.RxBytes != uint64(n*84) || p.RxDrops+p.TxDrops != 0 {
			t.Errorf("node1's peer %v (node%d): %+v; want %d echo requests of 84 bytes in, %d replies out, no drops", p.Addr, i+1, p, n, n)
		}
		if p.LastRx.IsZero() || time.Since(p.LastRx) > time.Minute || p.LastTx.IsZero() {
			t.Errorf("node1's peer %v last seen rx %v tx %v", p.Addr, p.LastRx, p.LastTx)
		}
		// What the peer's daemon sent toward node1 is what node1 took in.
		var theirs engine.PeerStats
		for _, q := range daemons[i].tunnel(t, "tunl0").Peers {
			if q.Addr == underlayAddr(0) {
				theirs = q
			}
		}
		if theirs.TxPackets != p.RxPackets || theirs.RxPackets != p.TxPackets {
			t.Errorf("node%d counts %d sent to node1 and %d received; node1 counts %d and %d", i+1, theirs.TxPackets, theirs.RxPackets, p.RxPackets, p.TxPackets)
		}
	}
	if pt := node1.PeerTables; pt.Other != (engine.PeerStats{}) || pt.RxRefused != 0 || pt.RxTracked != 2 || pt.TxTracked != 2 {
		t.Errorf("node1 tunl0 tables %+v; want two peers a direction and nothing else", pt)
	}

	text, _, err := runBinarySplit(10*time.Second, "show", "tunl0", "-s", "--control", daemons[0].control)
	line := regexp.MustCompile(`(?m)^    10\.245\.1\.3 +5 +420 +0 +5 +420 +0 +\d+s ago$`)
	if err != nil || !line.MatchString(text) || !strings.Contains(text, "Peer ") {
		t.Errorf("ipipd show tunl0 -s: %v; want a line for peer 10.245.1.3:\n%s", err, text)
	}
	doc, _, err := runBinarySplit(10*time.Second, "show", "tunl0", "-s", "-j", "--control", daemons[0].control)
	var js struct {
		Tunnels []struct {
			Peers []struct {
				Address string
				RX, TX  struct{ Packets, Bytes uint64 }
			} `json:"peers"`
		} `json:"tunnels"`
	}
	if err == nil {
		err = json.Unmarshal([]byte(doc), &js)
	}
	if err != nil || len(js.Tunnels) != 1 || len(js.Tunnels[0].Peers) != 2 || js.Tunnels[0].Peers[1].Address != "10.245.1.4" || js.Tunnels[0].Peers[1].RX.Packets != 3 {
		t.Errorf("ipipd show tunl0 -s -j: %v; want peers 10.245.1.3 and 10.245.1.4 (3 packets in):\n%s", err, doc)
	}
}

// TestPeersSpoofedSources: a fourth namespace on the underlay sends node1
// one IPIP packet from each of 100 000 spoofed outer sources, paced over a
// few seconds, while node2 pings node1 across the mesh. node1's fallback
// tunnel takes them all (as the kernel's tunl0 would); its receive table
// never holds more than engine.MaxPeers peers, the mesh's peers keep
// their slots, the rest land in the other bucket with an estimate of how
// many there were, and the daemon's resident memory grows by far less
// than 100 000 peers would take.
func TestPeersSpoofedSources(t *testing.T) {
	lab.Require(t)
	requirePing(t)
	l := newLAN(t, 4) // node4: the spoofer, no daemon
	daemons := make([]*daemon, 3)
	for i := range 3 {
		daemons[i] = startDaemon(t, l.nodes[i], fmt.Sprintf("node%d", i+1), fallbackConfig(i, others(i, 3), "mtu: 1480"))
	}
	for j := 1; j < 3; j++ {
		if err := l.nodes[j].Ping(tunnelAddr(0), 10*time.Second); err != nil {
			t.Fatalf("node%d → node1 before the flood: %v", j+1, err)
		}
	}
	// Spoofed sources have no route back on node1; only rp_filter would
	// care, and it is the operator's: off here, so every packet arrives.
	for _, k := range []string{"all", "default", "eth0"} {
		l.nodes[0].Try("sysctl", "-qw", "net.ipv4.conf."+k+".rp_filter=0")
	}
	pid := daemons[0].proc.Pid()
	before := daemons[0].tunnel(t, "tunl0")
	rssBefore := rssKiB(t, pid)

	// node2 pings node1 all along.
	pinged := make(chan string, 1)
	go func() {
		out, _ := ping(l.nodes[1], "-c", "25", "-i", "0.2", tunnelAddr(0).String())
		pinged <- out
	}()

	const sources = 100_000
	send := rawSender(t, l.nodes[3])
	// An ICMP echo reply from a host behind node2 to node1's tunnel
	// address: node1's kernel takes it and answers nothing.
	inner := make([]byte, header.MinSize+8)
	header.IPv4(inner).Encode(&header.Fields{TotalLength: uint16(len(inner)), TTL: 64, Protocol: header.ProtocolICMP,
		Src: header.Addr4(addr("192.168.42.9")), Dst: header.Addr4(tunnelAddr(0))})
	header.IPv4(inner).SetHeaderChecksum()
	icmp := inner[header.MinSize:]
	ck := ^header.Checksum(icmp, 0)
	icmp[2], icmp[3] = byte(ck>>8), byte(ck)
	const chunk = 500
	batch := make([][]byte, chunk)
	for k := range batch {
		batch[k] = ipipPacket(addr("10.128.0.1"), underlayAddr(0), 0, 0, inner)
	}
	var maxSlots, maxTracked int
	sample := func() {
		st, err := daemons[0].tryShow()
		if err != nil {
			return
		}
		for _, tun := range st.Tunnels {
			if tun.Name == "tunl0" {
				maxSlots = max(maxSlots, tun.PeerTables.RxSlots)
				maxTracked = max(maxTracked, tun.PeerTables.RxTracked, len(tun.Peers))
			}
		}
	}
	// flood sends one packet from each of sources addresses from first on,
	// paced, and returns once node1 has taken in what it will, with its
	// RSS then. With sampling, it reads node1's table now and then.
	flood := func(first uint32, sampling bool) (time.Duration, int, engine.TunnelStatus) {
		start := time.Now()
		deadline := start.Add(30 * time.Second)
		for k := 0; k < sources; k += chunk {
			for j := range batch {
				src := first + uint32(k+j)
				o := header.IPv4(batch[j])
				o.SetSrc(src)
				o.SetID(uint16(k + j))
				o.SetHeaderChecksum()
			}
			for rest := batch; len(rest) > 0; {
				n, err := send.Write(rest)
				if err != nil {
					t.Fatalf("node4 sending spoofed packets: %v", err)
				}
				rest = rest[n:]
			}
			if sampling && k%(20*chunk) == 0 {
				sample()
			}
			time.Sleep(10 * time.Millisecond) // about 50 000 a second: the daemon's socket keeps up
			if time.Now().After(deadline) {
				t.Fatalf("sending took over 30 s; %d of %d sent", k, sources)
			}
		}
		sent := time.Since(start)
		// The RSS before any show: a show of 1024 peers leaves a few
		// hundred KiB of garbage in the daemon, the reader's, not the
		// datapath's.
		time.Sleep(time.Second)
		rss := rssKiB(t, pid)
		var after engine.TunnelStatus
		for last := uint64(0); ; last = after.Stats.RxPackets {
			after = daemons[0].tunnel(t, "tunl0")
			if after.Stats.RxPackets == last {
				break
			}
			time.Sleep(300 * time.Millisecond)
		}
		sample()
		return sent, rss, after
	}
	// The first flood fills the table, and warms what any flood warms (the
	// receive batch's buffers, the heap's goal); the second, from 100 000
	// other sources, shows what more sources cost: nothing, if bounded.
	sent, rssFirst, after := flood(0x0a800001, true)    // 10.128.0.1 …
	rssSecond := rssKiB(t, pid)                         // after the first flood's shows
	sent2, rssAfter, after2 := flood(0x0aa00001, false) // 10.160.0.1 …
	if out := <-pinged; !strings.Contains(out, " 0% packet loss") && !strings.Contains(out, "25 received") {
		t.Errorf("node2 → node1 during the flood lost packets:\n%s", out)
	}

	arrived := after.Stats.RxPackets - before.Stats.RxPackets
	pt := after.PeerTables
	t.Logf("%d spoofed sources sent in %v; node1 took in %d packets; rx table %d slots, %d peers, other %d packets, ~%d refused; RSS %d KiB before, %d after (%+d)",
		sources, sent.Round(time.Millisecond), arrived, pt.RxSlots, pt.RxTracked, pt.Other.RxPackets, pt.RxRefused, rssBefore, rssFirst, rssFirst-rssBefore)
	t.Logf("%d more in %v: node1 took in %d; rx table %d slots, %d peers, ~%d refused; RSS %d KiB before, %d after (%+d)",
		sources, sent2.Round(time.Millisecond), after2.Stats.RxPackets-after.Stats.RxPackets, after2.PeerTables.RxSlots,
		after2.PeerTables.RxTracked, after2.PeerTables.RxRefused, rssSecond, rssAfter, rssAfter-rssSecond)
	if arrived < sources/2 {
		t.Fatalf("node1 took in %d of %d spoofed packets: too few to test the bound", arrived, sources)
	}
	if maxSlots > engine.MaxPeers || maxTracked > engine.MaxPeers || pt.RxTracked > engine.MaxPeers {
		t.Errorf("rx table: at most %d slots and %d peers seen, %d now; bound %d", maxSlots, maxTracked, pt.RxTracked, engine.MaxPeers)
	}
	if pt.RxSlots != engine.MaxPeers {
		t.Errorf("rx table %d slots after %d sources, want it grown to %d", pt.RxSlots, arrived, engine.MaxPeers)
	}
	held := map[netip.Addr]bool{}
	var tracked uint64
	for _, p := range after.Peers {
		held[p.Addr] = true
		tracked += p.RxPackets
	}
	for j := 1; j < 3; j++ {
		if !held[underlayAddr(j)] {
			t.Errorf("node%d (%v) lost its slot to the flood", j+1, underlayAddr(j))
		}
	}
	if tracked+pt.Other.RxPackets != after.Stats.RxPackets {
		t.Errorf("peers %d + other %d packets != the tunnel's %d", tracked, pt.Other.RxPackets, after.Stats.RxPackets)
	}
	refused := float64(arrived) - float64(pt.RxTracked)
	if e := float64(pt.RxRefused); e < 0.75*refused || e > 1.25*refused {
		t.Errorf("~%d peers refused a slot, about %.0f were", pt.RxRefused, refused)
	}
	// 100 000 more peers in a map would take several MiB; the tables
	// take at most 80 KiB a tunnel, all of it taken by the first flood.
	if growth := rssAfter - rssSecond; growth > 1<<10 {
		t.Errorf("node1's RSS grew by %d KiB over the second flood, want under 1 MiB", growth)
	}
	if after2.PeerTables.RxSlots > engine.MaxPeers || after2.PeerTables.RxTracked > engine.MaxPeers {
		t.Errorf("rx table after the second flood: %+v", after2.PeerTables)
	}
	if err := l.nodes[1].Ping(tunnelAddr(0), 10*time.Second); err != nil {
		t.Errorf("node2 → node1 after the flood: %v", err)
	}
}

// rssKiB is a process's resident set size, from /proc.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^VmRSS:\s+(\d+) kB$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no VmRSS in /proc/%d/status", pid)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

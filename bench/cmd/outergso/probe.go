package main

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	lab "github.com/ipipd/ipipd/bench/cmd/outerlab"
)

// Segment sizes of every super-packet here: the inner TCP MSS of a
// 1500-byte underlay under a 1480-byte tunnel, and 44 of them (63 360
// bytes of payload, a 63 420-byte outer packet).
const (
	mss      = 1440
	segments = 44
)

// arrival is what B's protocol-4 raw socket read in a window.
type arrival struct {
	n, bytes, min, max int
	csumWhole          int // inner TCP checksum complete and right
	csumPartial        int // inner TCP checksum is the pseudo-header sum only
}

func (a arrival) String() string {
	if a.n == 0 {
		return "nothing"
	}
	return fmt.Sprintf("%d packet(s), %d bytes, sizes %d–%d, inner TCP checksum whole in %d, pseudo-header only in %d",
		a.n, a.bytes, a.min, a.max, a.csumWhole, a.csumPartial)
}

// collect reads B's raw socket until it is quiet for 300 ms.
func collect(fd int) arrival {
	var a arrival
	buf := make([]byte, 70000)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return a
		}
		p := buf[:n]
		a.n++
		a.bytes += n
		if a.min == 0 || n < a.min {
			a.min = n
		}
		a.max = max(a.max, n)
		if n >= 60 && p[29] == 6 {
			in := p[20:]
			tcp := in[20 : n-20]
			s := uint32(binary.BigEndian.Uint16(in[12:])) + uint32(binary.BigEndian.Uint16(in[14:])) +
				uint32(binary.BigEndian.Uint16(in[16:])) + uint32(binary.BigEndian.Uint16(in[18:])) + 6 + uint32(len(tcp))
			switch {
			case lab.Checksum(tcp, s) == 0:
				a.csumWhole++
			case binary.BigEndian.Uint16(tcp[16:]) == ^lab.Checksum(nil, s):
				a.csumPartial++
			}
		}
	}
}

// variant is one way of handing the kernel a super-packet.
type variant struct {
	name    string
	ethtool []string // ethtool -K vA … before
	tcx     bool     // the IPIP-marking program on vA's egress
	tun     bool     // written into a TUN with IFF_VNET_HDR and forwarded, instead of a packet socket
	vnet    lab.VnetHdr
}

func superVnet(outerOff uint16) lab.VnetHdr {
	return lab.VnetHdr{Flags: lab.VnetNeedsCsum, GSOType: lab.VnetGSOTCPv4, HdrLen: outerOff + 60,
		GSOSize: mss, CsumStart: outerOff + 40, CsumOffset: lab.TCPChecksumOffset}
}

func probe(l *lab.Lab) {
	eth := superVnet(14)
	noCsum := eth
	noCsum.Flags, noCsum.CsumStart, noCsum.CsumOffset = 0, 0, 0
	tunHdr := superVnet(0)
	// ip_rcv resets the transport header to the outer header's end, so
	// ip_forward's GSO length check reads the inner IPv4 header as TCP
	// (doff 12 from 192.x: 48 bytes) and finds 20+48+1440 > 1500: a
	// smaller gso_size shows what comes after that check.
	tunSmall := tunHdr
	tunSmall.GSOSize = 1400
	variants := []variant{
		{name: "packet socket, vnet TCPV4 + NEEDS_CSUM (csum_start at inner TCP)", vnet: eth},
		{name: "packet socket, vnet TCPV4 without NEEDS_CSUM (flow dissector finds the inner TCP)", vnet: noCsum},
		{name: "packet socket, vnet TCPV4, vA tso/gso off", vnet: eth, ethtool: []string{"tso", "off", "gso", "off"}},
		{name: "TUN (IFF_VNET_HDR) in A, forwarded to vA, vnet TCPV4", vnet: tunHdr, tun: true},
		{name: "packet socket, vnet TCPV4, tcx IPIP mark on vA", vnet: eth, tcx: true},
		{name: "packet socket, vnet TCPV4, tcx IPIP mark, vA tx-ipxip4-segmentation off (a NIC without IPIP TSO)", vnet: eth, tcx: true, ethtool: []string{"tx-ipxip4-segmentation", "off"}},
		{name: "packet socket, vnet TCPV4, tcx IPIP mark, vA tso off (no TSO at all)", vnet: eth, tcx: true, ethtool: []string{"tso", "off"}},
		{name: "TUN (IFF_VNET_HDR) in A, forwarded, tcx IPIP mark on vA", vnet: tunHdr, tun: true, tcx: true},
		{name: "TUN (IFF_VNET_HDR) in A, forwarded, gso_size 1400, vnet TCPV4", vnet: tunSmall, tun: true},
		{name: "TUN (IFF_VNET_HDR) in A, forwarded, gso_size 1400, tcx IPIP mark on vA", vnet: tunSmall, tun: true, tcx: true},
	}
	bMAC, err := lab.MAC(l.B, "vB")
	if err != nil {
		lab.Fatal("%v", err)
	}
	aMAC, _ := lab.MAC(l.A, "vA")
	var rfd int
	if err := lab.In(l.B, func() error {
		var err error
		rfd, err = lab.RawReceiver()
		lab.SetTimeout(rfd, 300)
		return err
	}); err != nil {
		lab.Fatal("%v", err)
	}
	// Everything in A from here on: this goroutine's thread is in A.
	if err := lab.In(l.A, func() error { return nil }); err != nil {
		lab.Fatal("%v", err)
	}
	if err := setupTUN(l); err != nil {
		lab.Fatal("tun: %v", err)
	}
	tunNet := fmt.Sprintf("10.245.%d", l.Net+1)
	for _, v := range variants {
		fmt.Printf("\n### %s\n", v.name)
		if len(v.ethtool) > 0 {
			if err := lab.Cmd(append([]string{"ip", "netns", "exec", l.A, "ethtool", "-K", "vA"}, v.ethtool...)...); err != nil {
				fmt.Println("ethtool:", err)
			}
		}
		link := -1
		if v.tcx {
			idx, _ := lab.Ifindex("vA")
			if link, err = lab.AttachIPIPMark(idx); err != nil {
				fmt.Println("tcx:", err)
				continue
			}
		}
		txBefore, dropBefore := lab.LinkStat(l.A, "vA", "tx_packets"), lab.LinkStat(l.A, "vA", "tx_dropped")
		rxBefore := lab.LinkStat(l.B, "vB", "rx_packets")
		snmpBefore := ipStats(l.A)
		buf := make([]byte, 80000)
		var werr error
		var n int
		if v.tun {
			v.vnet.Put(buf)
			n = lab.VnetHdrLen + lab.IPIPTCP(buf[lab.VnetHdrLen:], netip.MustParseAddr(tunNet+".5"), netip.MustParseAddr(l.BAddr), 1, 1000, segments*mss, true)
			_, werr = unix.Write(tunFD, buf[:n])
		} else {
			fd, err := lab.PacketSocket("vA", true)
			if err != nil {
				fmt.Println("socket:", err)
				continue
			}
			v.vnet.Put(buf)
			lab.EtherHeader(buf[lab.VnetHdrLen:], bMAC, aMAC)
			off := lab.VnetHdrLen + 14
			n = off + lab.IPIPTCP(buf[off:], netip.MustParseAddr(l.AAddr), netip.MustParseAddr(l.BAddr), 1, 1000, segments*mss, v.vnet.Flags != 0)
			_, werr = unix.Write(fd, buf[:n])
			unix.Close(fd)
		}
		fmt.Printf("write of %d bytes (virtio-net header included): %v\n", n, errText(werr))
		a := collect(rfd)
		fmt.Printf("vA tx_packets +%d, tx_dropped +%d; vB rx_packets +%d\n",
			lab.LinkStat(l.A, "vA", "tx_packets")-txBefore, lab.LinkStat(l.A, "vA", "tx_dropped")-dropBefore,
			lab.LinkStat(l.B, "vB", "rx_packets")-rxBefore)
		fmt.Printf("B's protocol-4 raw socket read: %v\n", a)
		if v.tun {
			after := ipStats(l.A)
			var d []string
			for k, v := range after {
				if v != snmpBefore[k] {
					d = append(d, fmt.Sprintf("%s +%d", k, v-snmpBefore[k]))
				}
			}
			fmt.Printf("A's IP counters: %s\n", strings.Join(d, ", "))
		}
		if link >= 0 {
			unix.Close(link)
		}
		if len(v.ethtool) > 0 {
			on := append([]string(nil), v.ethtool...)
			for i := 1; i < len(on); i += 2 {
				on[i] = "on"
			}
			lab.Cmd(append([]string{"ip", "netns", "exec", l.A, "ethtool", "-K", "vA"}, on...)...)
		}
	}
	out, _ := lab.Output("ip", "netns", "exec", l.A, "ethtool", "-k", "vA")
	fmt.Println("\nvA's offloads:")
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "segmentation") || strings.Contains(line, "gso") {
			fmt.Println(" ", strings.TrimSpace(line))
		}
	}
}

func errText(err error) string {
	if err == nil {
		return "accepted"
	}
	return "refused: " + err.Error()
}

var tunFD int

// setupTUN creates tO in A (the calling thread's namespace): a TUN with a
// virtio-net header, 10.245.<n+1>.1/24, IP forwarding on, so a packet
// written into it is routed out of vA.
func setupTUN(l *lab.Lab) error {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	ifr, err := unix.NewIfreq("tO")
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return fmt.Errorf("TUNSETIFF: %w", err)
	}
	tunFD = fd
	n := fmt.Sprintf("10.245.%d", l.Net+1)
	for _, c := range [][]string{
		{"ip", "-n", l.A, "addr", "add", n + ".1/24", "dev", "tO"},
		{"ip", "-n", l.A, "link", "set", "tO", "up"},
	} {
		if err := lab.Cmd(c...); err != nil {
			return err
		}
	}
	for _, k := range []string{"net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.tO.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"} {
		kv := strings.SplitN(k, "=", 2)
		if err := lab.Sysctl(l.A, kv[0], kv[1]); err != nil {
			return err
		}
	}
	_ = os.Getpid
	return nil
}

// ipStats is the Ip: line of /proc/net/snmp in a namespace.
func ipStats(ns string) map[string]int64 {
	out, _ := lab.Output("ip", "netns", "exec", ns, "cat", "/proc/net/snmp")
	var names, vals []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "Ip: ") {
			if names == nil {
				names = strings.Fields(line)[1:]
			} else {
				vals = strings.Fields(line)[1:]
			}
		}
	}
	m := map[string]int64{}
	for i := range min(len(names), len(vals)) {
		var v int64
		fmt.Sscan(vals[i], &v)
		m[names[i]] = v
	}
	return m
}

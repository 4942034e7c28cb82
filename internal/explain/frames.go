package explain

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/ipipd/ipipd/internal/hexfile"
)

// Frame is one packet of explain's input, its IPv4 header first.
type Frame struct {
	// Number counts from 1 in a capture, as Wireshark and tcpdump do; 0
	// for hex input, which holds one packet.
	Number int
	Time   time.Time
	// Interface and Comment come from a pcapng file (`ipipd trace
	// --pcap` writes the verdict in the comment).
	Interface, Comment string
	// Data is the IPv4 packet, link-layer header removed; nil when the
	// frame holds no IPv4 packet, Skipped then says what it holds.
	Data    []byte
	Skipped string
}

// Read reads PACKET as explain takes it: a pcap or pcapng file (every
// frame), a file of commented hex, or hex on the command line (one packet).
func Read(arg string) ([]Frame, error) {
	data, err := os.ReadFile(arg)
	if err != nil {
		if strings.ContainsAny(arg, "/.") {
			return nil, err
		}
		pkt, err := hexfile.Parse(arg)
		if err != nil {
			return nil, err
		}
		return []Frame{{Data: pkt}}, nil
	}
	frames, isCapture, err := readCapture(data)
	if isCapture {
		if err != nil {
			return nil, fmt.Errorf("%s: %w", arg, err)
		}
		return frames, nil
	}
	pkt, err := hexfile.Parse(string(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", arg, err)
	}
	return []Frame{{Data: pkt}}, nil
}

// readCapture reads every frame of a pcap or pcapng file; isCapture is
// false when data is neither.
func readCapture(data []byte) (frames []Frame, isCapture bool, err error) {
	if r, err := pcapgo.NewReader(bytes.NewReader(data)); err == nil {
		for n := 1; ; n++ {
			pkt, ci, err := r.ReadPacketData()
			if errors.Is(err, io.EOF) {
				return frames, true, nil
			}
			if err != nil {
				return frames, true, fmt.Errorf("frame %d: %w", n, err)
			}
			f := Frame{Number: n, Time: ci.Timestamp}
			f.Data, f.Skipped = ipv4Payload(r.LinkType(), pkt)
			frames = append(frames, f)
		}
	}
	r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		return nil, false, nil
	}
	for n := 1; ; n++ {
		pkt, ci, opts, err := r.ReadPacketDataWithOptions()
		if errors.Is(err, io.EOF) {
			return frames, true, nil
		}
		if err != nil {
			return frames, true, fmt.Errorf("frame %d: %w", n, err)
		}
		intf, err := r.Interface(ci.InterfaceIndex)
		if err != nil {
			return frames, true, fmt.Errorf("frame %d: %w", n, err)
		}
		f := Frame{Number: n, Time: ci.Timestamp, Interface: intf.Name, Comment: strings.Join(opts.Comments, "\n")}
		f.Data, f.Skipped = ipv4Payload(intf.LinkType, pkt)
		frames = append(frames, f)
	}
}

// ipv4Payload strips the link-layer header of the link types captures of
// IPIP traffic come in: Ethernet (VLAN tags too), Linux cooked (tcpdump -i
// any, v1 and v2), BSD loopback and bare IP. It says why when the frame
// holds no IPv4 packet.
func ipv4Payload(link layers.LinkType, pkt []byte) ([]byte, string) {
	var ethertype uint16
	switch link {
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, 12, 14: // 12 and 14: DLT_RAW's numbers on some systems
		if len(pkt) > 0 && pkt[0]>>4 != 4 {
			return nil, fmt.Sprintf("an IPv%d packet, not IPv4", pkt[0]>>4)
		}
		return pkt, ""
	case layers.LinkTypeEthernet:
		for len(pkt) >= 14 {
			ethertype = binary.BigEndian.Uint16(pkt[12:])
			if ethertype != 0x8100 && ethertype != 0x88a8 {
				pkt = pkt[14:]
				break
			}
			pkt = append(pkt[:12:12], pkt[16:]...) // drop one VLAN tag
		}
	case layers.LinkTypeLinuxSLL:
		if len(pkt) >= 16 {
			ethertype, pkt = binary.BigEndian.Uint16(pkt[14:]), pkt[16:]
		}
	case 276: // LINKTYPE_LINUX_SLL2
		if len(pkt) >= 20 {
			ethertype, pkt = binary.BigEndian.Uint16(pkt[0:]), pkt[20:]
		}
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if len(pkt) >= 4 {
			ethertype, pkt = 0x0800, pkt[4:]
		}
	default:
		return nil, fmt.Sprintf("link type %v, which explain does not read", link)
	}
	if ethertype != 0x0800 {
		return nil, fmt.Sprintf("ethertype %#04x, not IPv4", ethertype)
	}
	return pkt, ""
}

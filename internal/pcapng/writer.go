// Package pcapng writes packets with a comment each into a pcapng file that
// Wireshark and tcpdump read, rotated at a size limit: `ipipd trace --pcap`.
//
// It wraps gopacket's pcapgo.NgWriter, which writes each packet as an
// Enhanced Packet Block with its comments as opt_comment options (Wireshark
// shows them as "Packet comments"; `tcpdump -r` skips them). Every packet
// is a bare IPv4 packet, one interface description per interface name, so
// Wireshark's "Interface" column tells the underlay link from the tunnel's
// TUN. The link type is LINKTYPE_IPV4 (228), not LINKTYPE_RAW (101):
// libpcap 1.10 (tcpdump -r) maps 101 to another number on reading and then
// refuses every interface after the first as "a different type".
package pcapng

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Packet is one packet to write.
type Packet struct {
	Time time.Time
	// Interface names where the packet was seen; each new name gets an
	// interface description block, Description its text.
	Interface, Description string
	Data                   []byte
	Comment                string
}

// Writer writes packets into path until it reaches its size limit, then
// renames it to path.1 (replacing the previous path.1) and starts path
// again: at most two files, each about the limit, the newest packets in
// path. It is not safe for concurrent use.
type Writer struct {
	path  string
	limit int64

	file *os.File
	buf  *bufio.Writer
	size *countingWriter
	ng   *pcapgo.NgWriter
	// interfaces maps an interface name to its index in the current file;
	// a rotated file starts without any.
	interfaces map[string]int
	packets    int // in the current file
	lastFlush  time.Time
}

// flushEvery bounds how long written packets wait in memory, so that a
// reader of the file (tcpdump -r while the trace runs) sees them soon.
const flushEvery = 200 * time.Millisecond

// Create starts a pcapng file at path, rotated at limit bytes.
func Create(path string, limit int64) (*Writer, error) {
	w := &Writer{path: path, limit: limit}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	w.file, w.buf = f, bufio.NewWriterSize(f, 1<<16)
	w.size = &countingWriter{w: w.buf}
	w.ng, w.interfaces, w.packets = nil, map[string]int{}, 0
	return nil
}

// start writes the section header, with intf as the first interface:
// NgWriter wants one before any packet, so the file's header waits for
// the first packet (or Close).
func (w *Writer) start(intf pcapgo.NgInterface) error {
	opts := pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "ipipd trace --pcap", OS: "linux"}}
	ng, err := pcapgo.NewNgWriterInterface(w.size, intf, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", w.path, err)
	}
	w.ng = ng
	w.interfaces[intf.Name] = 0
	return nil
}

// newInterface describes an interface of bare IPv4 packets.
func newInterface(name, description string) pcapgo.NgInterface {
	intf := pcapgo.DefaultNgInterface
	intf.Name, intf.Description, intf.LinkType = name, description, layers.LinkTypeIPv4
	return intf
}

// Write appends p, rotating first if it would take the file past the limit
// (a file always takes its first packet, however large).
func (w *Writer) Write(p Packet) error {
	if w.packets > 0 && w.size.n+int64(blockSize(p)) > w.limit {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	if w.ng == nil {
		if err := w.start(newInterface(p.Interface, p.Description)); err != nil {
			return err
		}
	}
	id, ok := w.interfaces[p.Interface]
	if !ok {
		var err error
		if id, err = w.ng.AddInterface(newInterface(p.Interface, p.Description)); err != nil {
			return fmt.Errorf("%s: %w", w.path, err)
		}
		w.interfaces[p.Interface] = id
	}
	ci := gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(p.Data), Length: len(p.Data), InterfaceIndex: id}
	var opts pcapgo.NgPacketOptions
	if p.Comment != "" {
		opts.Comments = []string{p.Comment}
	}
	if err := w.ng.WritePacketWithOptions(ci, p.Data, opts); err != nil {
		return fmt.Errorf("%s: %w", w.path, err)
	}
	w.packets++
	// NgWriter buffers too: push its bytes to ours, so the count is exact
	// (no system call here; w.buf flushes when full or every flushEvery).
	if err := w.ng.Flush(); err != nil {
		return fmt.Errorf("%s: %w", w.path, err)
	}
	if now := time.Now(); now.Sub(w.lastFlush) >= flushEvery {
		w.lastFlush = now
		return w.buf.Flush()
	}
	return nil
}

// blockSize is the size of p's enhanced packet block: 28 bytes of header,
// the data padded to 4, the comment option (4 + padded text), the end of
// options (4) and the trailing length (4); a new interface's block is not
// counted, it is small.
func blockSize(p Packet) int {
	pad := func(n int) int { return (n + 3) &^ 3 }
	n := 28 + pad(len(p.Data)) + 4 + 4
	if p.Comment != "" {
		n += 4 + pad(len(p.Comment))
	}
	return n
}

// rotate closes the file, renames it to path.1 and starts a new one.
func (w *Writer) rotate() error {
	if err := w.close(); err != nil {
		return err
	}
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		return err
	}
	return w.open()
}

// Close flushes and closes the file.
func (w *Writer) Close() error { return w.close() }

func (w *Writer) close() error {
	var err error
	if w.ng == nil { // no packet: still a valid, empty capture
		err = w.start(newInterface("ipipd", "ipipd trace: nothing was traced"))
	}
	if err == nil {
		err = w.ng.Flush()
	}
	if ferr := w.buf.Flush(); err == nil {
		err = ferr
	}
	if cerr := w.file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", w.path, err)
	}
	return nil
}

// Size is the current file's size in bytes, buffered bytes included.
func (w *Writer) Size() int64 { return w.size.n }

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

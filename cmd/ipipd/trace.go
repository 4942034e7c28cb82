package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/ipipd/ipipd/internal/control"
	"github.com/ipipd/ipipd/internal/engine"
	"github.com/ipipd/ipipd/internal/pcapng"
)

const traceUsage = `usage: ipipd trace [--control PATH] [--pcap FILE [--pcap-size 100MB]]

Streams one line per packet from a running ipipd until Ctrl-C, named after
the kernel's steps, with the time and the interface: for a received outer
packet the ingress link, the lookup (ip_tunnel_lookup), ECN decapsulation
and the verdict; for an inner packet from a TUN the next hop, the path MTU
and the outer header built (iptunnel_xmit), or why it was dropped. Fragment
flags and offsets are shown as tcpdump shows them. The datapath pays for
this only while a trace runs; packets a slow reader cannot take are left
out of the trace and counted, never dropped from the datapath.
  --pcap FILE, -w FILE  write the packets instead, inner and outer, as pcapng
                        (Wireshark, tcpdump -r FILE), each with a comment
                        giving its verdict and the kernel step that decided it
  --pcap-size SIZE      when FILE reaches SIZE it becomes FILE.1 (replacing
                        it) and a new FILE starts (default 100MB; KB, MB, GB)`

func traceCommand(args []string) int {
	fs := newFlags("trace", traceUsage)
	socket := fs.String("control", control.DefaultPath, "control socket")
	var pcapPath string
	fs.StringVar(&pcapPath, "pcap", "", "pcapng file")
	fs.StringVar(&pcapPath, "w", "", "pcapng file (as tcpdump -w)")
	size := sizeFlag(100_000_000)
	fs.Var(&size, "pcap-size", "rotation size")
	if code := parse(fs, traceUsage, args); code >= 0 {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var out recordWriter = textWriter{os.Stdout}
	if pcapPath != "" {
		w, err := newPcapWriter(pcapPath, int64(size), os.Stderr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "ipipd trace: %v\n", err)
			return exitFailure
		}
		out = w
	}
	var writeErr error
	err := control.Stream(ctx, *socket, "trace", func(line string) {
		if writeErr != nil {
			return
		}
		var rec engine.TraceRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			// A daemon older than this client sends text lines.
			rec = engine.TraceRecord{Line: line}
		}
		if writeErr = out.write(&rec); writeErr != nil {
			stop() // a full disk ends the trace, with the reason
		}
	})
	if cerr := out.close(); writeErr == nil {
		writeErr = cerr
	}
	if err == nil {
		err = writeErr
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ipipd trace: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// recordWriter is where trace records go: the terminal or a pcapng file.
type recordWriter interface {
	write(rec *engine.TraceRecord) error
	close() error
}

// textWriter prints one line per record, the time first as tcpdump does.
type textWriter struct{ w io.Writer }

func (t textWriter) write(rec *engine.TraceRecord) error {
	if rec.Time.IsZero() {
		_, err := fmt.Fprintln(t.w, rec.Line)
		return err
	}
	_, err := fmt.Fprintf(t.w, "%s %s\n", rec.Time.Format("15:04:05.000000"), rec.Line)
	return err
}

func (textWriter) close() error { return nil }

// pcapWriter writes each record's packets into a pcapng file: the outer
// packet on the underlay link it arrived on (or "underlay" for one sent:
// the kernel's route picks the device), the inner one on its tunnel's TUN.
type pcapWriter struct {
	w       *pcapng.Writer
	path    string
	log     io.Writer
	packets int
}

func newPcapWriter(path string, size int64, log io.Writer) (*pcapWriter, error) {
	w, err := pcapng.Create(path, size)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "ipipd trace: writing pcapng to %s (at %s it becomes %s.1 and a new one starts); Ctrl-C stops\n", path, formatSize(size), path)
	return &pcapWriter{w: w, path: path, log: log}, nil
}

func (p *pcapWriter) write(rec *engine.TraceRecord) error {
	if rec.Direction == "" { // a report of untraced packets, no packet
		fmt.Fprintln(p.log, rec.Line)
		return nil
	}
	outerIntf, outerDesc := rec.Device, "underlay link: outer packets received"
	innerDesc := "TUN device: inner packets written by ipipd"
	if rec.Direction == "tx" {
		outerIntf, outerDesc = rec.Device, "underlay: outer packets sent"
		if outerIntf == "" {
			outerIntf, outerDesc = "underlay", "outer packets sent; the kernel's route toward each destination picks the device"
		}
		innerDesc = "TUN device: inner packets read by ipipd"
	}
	write := func(intf, desc string, data []byte, what string) error {
		if data == nil {
			return nil
		}
		p.packets++
		return p.w.Write(pcapng.Packet{Time: rec.Time, Interface: intf, Description: desc, Data: data, Comment: traceComment(rec, what)})
	}
	outer, inner := rec.OuterPacket(), rec.InnerPacket()
	if rec.Direction == "tx" { // in the order the daemon saw them
		if err := write(rec.Tunnel, innerDesc, inner, "inner packet read from "+rec.Tunnel); err != nil {
			return err
		}
		return write(outerIntf, outerDesc, outer, "outer packet built")
	}
	if err := write(outerIntf, outerDesc, outer, "outer packet received on "+rec.Device); err != nil {
		return err
	}
	if rec.Verdict != "deliver" {
		return nil
	}
	return write(rec.Tunnel, innerDesc, inner, "inner packet written into "+rec.Tunnel)
}

func (p *pcapWriter) close() error {
	err := p.w.Close()
	fmt.Fprintf(p.log, "ipipd trace: %d packets written to %s\n", p.packets, p.path)
	return err
}

// traceComment is a packet's pcapng comment: its verdict and the kernel
// step that decided it, then the trace line.
func traceComment(rec *engine.TraceRecord, what string) string {
	verdict := rec.Verdict
	if rec.Reason != "" {
		verdict += " " + rec.Reason
	}
	c := fmt.Sprintf("%s %s: verdict %s, decided by %s\n%s", rec.Direction, what, verdict, rec.Step, rec.Line)
	if rec.Note != "" {
		c += "\n" + rec.Note
	}
	return c
}

// sizeFlag is a byte count written as 100MB, 64KB, 1GB or a plain number;
// KB, MB and GB are powers of 1000, as tcpdump -C counts.
type sizeFlag int64

var _ flag.Value = (*sizeFlag)(nil)

func (s *sizeFlag) String() string { return formatSize(int64(*s)) }

func (s *sizeFlag) Set(v string) error {
	units := []struct {
		suffix string
		scale  int64
	}{{"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"G", 1e9}, {"M", 1e6}, {"K", 1e3}, {"B", 1}}
	num, scale := strings.ToUpper(strings.TrimSpace(v)), int64(1)
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			num, scale = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.scale
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/scale {
		return fmt.Errorf("want a size such as 100MB, 500KB or 1GB, got %q", v)
	}
	*s = sizeFlag(n * scale)
	return nil
}

// formatSize writes n in the largest unit that divides it.
func formatSize(n int64) string {
	switch {
	case n%1e9 == 0:
		return fmt.Sprintf("%dGB", n/1e9)
	case n%1e6 == 0:
		return fmt.Sprintf("%dMB", n/1e6)
	case n%1e3 == 0:
		return fmt.Sprintf("%dKB", n/1e3)
	}
	return fmt.Sprintf("%dB", n)
}

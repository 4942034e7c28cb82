package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ipipd/ipipd/internal/explain"
)

const explainUsage = `usage: ipipd explain -c FILE [--frame N] [--link IFINDEX] [--path-mtu N] [--tunnel NAME] PACKET

Offline: what the datapath would do with a packet under FILE, step by step,
named after the kernel's functions. PACKET is a file of commented hex (as in
decap/testdata/seeds, or as ipipd demo prints one), hex on the command line,
or a pcap or pcapng file (tcpdump -w, ipipd trace --pcap, Wireshark), whose
every frame is explained in turn (raw IP, Ethernet or Linux cooked). A
protocol-4 packet is explained as received (decap); any other IPv4 packet as
read from a tunnel's TUN (encap).
  --frame     explain only frame N of a capture (numbered from 1, as
              Wireshark and tcpdump number them)
  --link      the ingress ifindex of a received packet (default 2)
  --path-mtu  the underlay MTU for transmit (default 1500)
  --tunnel    the tunnel whose TUN a transmitted packet is read from; by
              default the one FILE's routes send it into, else the fallback
              (routes added with ip route or by a routing daemon live in the
              running kernel, which explain does not read)`

func explainCommand(args []string) int {
	fs := newFlags("explain", explainUsage)
	path := fs.String("c", "", "config file")
	frame := fs.Int("frame", 0, "frame number")
	link := fs.Int("link", 2, "ingress ifindex")
	pathMTU := fs.Int("path-mtu", 1500, "underlay MTU")
	tunnel := fs.String("tunnel", "", "the tunnel whose TUN a transmitted packet is read from")
	if code := parse(fs, explainUsage, args); code >= 0 {
		return code
	}
	if *path == "" || fs.NArg() != 1 {
		fmt.Fprintf(os.Stderr, "ipipd explain: want -c FILE and one PACKET\n%s\n", explainUsage)
		return exitUsage
	}
	cfg, code := loadConfig(*path)
	if cfg == nil {
		return code
	}
	frames, err := explain.Read(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(os.Stderr, "ipipd explain: %v\n", err)
		return exitUsage
	}
	x, err := explain.New(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ipipd explain: %v\n", err)
		return exitUsage
	}
	if *frame != 0 {
		if *frame < 0 || *frame > len(frames) || frames[*frame-1].Number == 0 {
			fmt.Fprintf(os.Stderr, "ipipd explain: --frame %d: %s holds %s\n", *frame, fs.Arg(0), frameCount(frames))
			return exitUsage
		}
		frames = frames[*frame-1 : *frame]
	}
	if len(frames) == 0 {
		fmt.Fprintf(os.Stderr, "ipipd explain: %s holds no packet\n", fs.Arg(0))
		return exitUsage
	}
	o := explain.Options{Link: *link, PathMTU: *pathMTU, Tunnel: *tunnel}
	for i, f := range frames {
		if i > 0 {
			fmt.Println()
		}
		explainFrame(os.Stdout, x, f, o)
	}
	return exitOK
}

// explainFrame prints one frame: a capture's frame under a line saying
// which (and its comment: trace --pcap's verdict), then its explanation.
func explainFrame(w io.Writer, x *explain.Explainer, f explain.Frame, o explain.Options) {
	if f.Number > 0 {
		fmt.Fprintf(w, "frame %d", f.Number)
		if f.Interface != "" {
			fmt.Fprintf(w, " on %s", f.Interface)
		}
		fmt.Fprintf(w, ", %s\n", f.Time.Format("15:04:05.000000"))
		if f.Comment != "" {
			fmt.Fprintf(w, "  # %s\n", strings.ReplaceAll(f.Comment, "\n", "\n  # "))
		}
	}
	if f.Data == nil {
		fmt.Fprintf(w, "skipped: %s\n", f.Skipped)
		return
	}
	x.Packet(w, f.Data, o)
}

// frameCount says how many frames a capture holds, or that it is not one.
func frameCount(frames []explain.Frame) string {
	if len(frames) == 1 && frames[0].Number == 0 {
		return "one packet in hex, not a capture"
	}
	return fmt.Sprintf("%d frames", len(frames))
}

package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ipipd/ipipd/internal/lab"
)

const usage = `usage: ipipbench [-reps N] [-duration D] [-cases LIST] [-underlay veth|napi] [-short] [-check] [-binary PATH] [-wireguard-go PATH] [-out DIR]
       ipipbench -render FILE.json

End-to-end benchmark of ipipd against wireguard-go, with a plain veth and
the kernel's VXLAN as the ceiling, in two network namespaces. Needs root,
ip, iperf3, ping, ss, and wg for the wireguard-go case.

  -binary PATH   ipipd binary (default: go build ./cmd/ipipd into a temp dir)
  -wireguard-go PATH
                 wireguard-go binary (default: go install of the version
                 go.mod requires, kept in the user's cache directory)
  -reps N        repetitions, cases interleaved within each, their order
                 turned by one each repetition (default 3)
  -duration D    length of each iperf3 test, whole seconds (default 5s)
  -cases LIST    comma-separated, from: %s (default: all)
  -underlay veth|napi
                 veth (default): the veth pair as created, whose receive
                 runs in the sender's system call, packet by packet;
                 napi: GRO and threaded NAPI on both ends, so that received
                 packets are merged and handled on another core, as a
                 NIC's interrupt would (every case alike)
  -short         1 s tests, 1 repetition (explicit -reps/-duration win)
  -check         CI mode: -short, and fail unless every case that ran moved
                 data and the daemons counted packets and no errors
  -out DIR       where the table, JSON and SVG go (default bench/results;
                 with -check nothing is written unless -out is given)
  -render FILE   measure nothing: write the table and chart again from a
                 run's JSON file, beside it`

type options struct {
	binary    string
	wireGuard string // -wireguard-go
	reps      int
	duration  time.Duration
	cases     []string
	underlay  string // "veth" or "napi", see underlayModes
	check     bool
	out       string // "" writes no files
	render    string // a results JSON to render again
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("ipipbench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := options{}
	fs.StringVar(&o.binary, "binary", "", "")
	fs.StringVar(&o.wireGuard, "wireguard-go", "", "")
	fs.IntVar(&o.reps, "reps", 3, "")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "")
	cases := fs.String("cases", strings.Join(caseNames(), ","), "")
	fs.StringVar(&o.underlay, "underlay", "veth", "")
	short := fs.Bool("short", false, "")
	fs.BoolVar(&o.check, "check", false, "")
	fs.StringVar(&o.out, "out", "", "")
	fs.StringVar(&o.render, "render", "", "")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.render != "" {
		return o, nil
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *short || o.check {
		if !set["reps"] {
			o.reps = 1
		}
		if !set["duration"] {
			o.duration = time.Second
		}
	}
	if o.reps < 1 {
		return o, fmt.Errorf("-reps %d: want 1 or more", o.reps)
	}
	if o.duration < time.Second || o.duration%time.Second != 0 {
		return o, fmt.Errorf("-duration %v: want whole seconds, 1s or more (iperf3 -t takes seconds)", o.duration)
	}
	if !slices.Contains(underlayModes, o.underlay) {
		return o, fmt.Errorf("-underlay %q: want one of %s", o.underlay, strings.Join(underlayModes, ", "))
	}
	for _, c := range strings.Split(*cases, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		if _, ok := findCase(c); !ok {
			return o, fmt.Errorf("-cases: unknown case %q; want some of %s", c, strings.Join(caseNames(), ","))
		}
		o.cases = append(o.cases, c)
	}
	if len(o.cases) == 0 {
		return o, fmt.Errorf("-cases: empty; want some of %s", strings.Join(caseNames(), ","))
	}
	if !set["out"] && !o.check {
		root, err := lab.ModuleRoot()
		if err != nil {
			return o, fmt.Errorf("%v; pass -out DIR", err)
		}
		o.out = filepath.Join(root, "bench", "results")
	}
	return o, nil
}

// command is the run's options written as a command line, for the report.
func (o options) command() string {
	s := fmt.Sprintf("ipipbench -reps %d -duration %v -cases %s", o.reps, o.duration, strings.Join(o.cases, ","))
	if o.underlay != "veth" {
		s += " -underlay " + o.underlay
	}
	if o.check {
		s += " -check"
	}
	if o.binary != "" {
		s += " -binary " + o.binary
	}
	if o.wireGuard != "" {
		s += " -wireguard-go " + o.wireGuard
	}
	return s
}

// Command ipipbench is ipipd's end-to-end benchmark: two network
// namespaces joined by a veth pair, and over them, in turn, the plain veth,
// the kernel's VXLAN, and ipipd with each TUN backend. For every case it
// measures TCP throughput (1 and 4 streams), UDP packet rate at 64 and 1400
// bytes, ping RTT, and for ipipd the daemons' CPU seconds per GB and peak
// RSS. Cases are interleaved over the repetitions and medians reported, as
// a markdown table, a JSON file of every number, and an SVG chart.
//
//	go run ./bench/cmd/ipipbench                      # 3 reps × 5 s, all cases
//	go run ./bench/cmd/ipipbench -cases veth,ipipd-naive -reps 5
//	go run ./bench/cmd/ipipbench -check               # CI: data moves, no errors
//
// It needs root, ip, iperf3, ping and ss (scripts/deps.sh installs them).
// Everything it creates lives in its own namespaces ("ipipbench-<pid>-…"),
// which are deleted at the end, on error and on Ctrl-C too.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	os.Exit(mainCode(os.Args[1:]))
}

func mainCode(args []string) int {
	opts, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Printf(usage+"\n", strings.Join(caseNames(), ","))
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ipipbench: %v\n"+usage+"\n", err, strings.Join(caseNames(), ","))
		return 2
	}
	if opts.render != "" {
		return render(opts.render)
	}
	// A closed stdout or stderr (a pager quit, `| head`) must not kill the
	// run before it has deleted its namespaces: writes fail instead.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := benchmark(ctx, opts, os.Stderr)
	if res == nil {
		fmt.Fprintf(os.Stderr, "ipipbench: %v\n", err)
		return 1
	}
	code := 0
	if err != nil {
		fmt.Fprintf(os.Stderr, "ipipbench: %v\n", err)
		code = 1
	}
	if opts.out != "" {
		paths, werr := writeOutputs(res, opts.out)
		if werr != nil {
			fmt.Fprintf(os.Stderr, "ipipbench: writing results: %v\n", werr)
			code = 1
		}
		fmt.Print(markdownReport(res, paths))
		fmt.Fprintf(os.Stderr, "written: %s\n", strings.Join(paths.list(), ", "))
	} else {
		fmt.Print(markdownReport(res, nil))
	}
	if opts.check {
		for _, s := range skipped(res) {
			fmt.Fprintf(os.Stderr, "ipipbench -check: NOT RUN, so not asserted: %s\n", s)
		}
		if problems := checkResults(res); len(problems) > 0 {
			fmt.Fprintf(os.Stderr, "ipipbench -check FAILED:\n  %s\n", strings.Join(problems, "\n  "))
			return 1
		}
		fmt.Fprintf(os.Stderr, "ipipbench -check passed: every case that ran moved data; daemons counted packets and no errors\n")
	}
	return code
}

// render writes the markdown table and the chart of a saved run again,
// beside its JSON file, and prints the table.
func render(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ipipbench: %v\n", err)
		return 1
	}
	var res results
	if err := json.Unmarshal(b, &res); err != nil {
		fmt.Fprintf(os.Stderr, "ipipbench: %s: %v\n", path, err)
		return 1
	}
	base := strings.TrimSuffix(path, ".json")
	p := &outputPaths{md: base + ".md", json: path, svg: base + ".svg"}
	report := markdownReport(&res, p)
	if err := os.WriteFile(p.svg, []byte(svgChart(&res)), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "ipipbench: %v\n", err)
		return 1
	}
	if err := os.WriteFile(p.md, []byte(report), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "ipipbench: %v\n", err)
		return 1
	}
	fmt.Print(report)
	fmt.Fprintf(os.Stderr, "written: %s, %s\n", p.md, p.svg)
	return 0
}

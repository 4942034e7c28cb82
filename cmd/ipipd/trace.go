package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ipipd/ipipd/internal/control"
)

const traceUsage = `usage: ipipd trace [--control PATH]

Streams one line per packet from a running ipipd until Ctrl-C, named after
the kernel's steps: for a received outer packet the lookup (ip_tunnel_lookup),
ECN decapsulation and the verdict; for an inner packet from a TUN the next
hop, the path MTU and the outer header built (iptunnel_xmit), or why it was
dropped. The datapath pays for this only while a trace runs; lines a slow
terminal cannot take are dropped and counted, never the packets.`

func traceCommand(args []string) int {
	fs := newFlags("trace", traceUsage)
	socket := fs.String("control", control.DefaultPath, "control socket")
	if code := parse(fs, traceUsage, args); code >= 0 {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := control.Stream(ctx, *socket, "trace", func(line string) { fmt.Println(line) })
	if err != nil {
		fmt.Fprintf(os.Stderr, "ipipd trace: %v\n", err)
		return exitFailure
	}
	return exitOK
}

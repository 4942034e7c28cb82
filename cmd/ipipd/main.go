// Command ipipd is a userspace IPIP (RFC 2003, IPv4-in-IPv4) tunnel daemon
// that behaves as the Linux kernel's ipip module does. See `ipipd help`.
package main

import (
	"fmt"
	"os"
)

// Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad config.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

type command struct {
	name, summary, usage string
	run                  func(args []string) int
}

var commands []command

func init() {
	commands = []command{
		{"run", "run the datapath in the foreground", runUsage, runCommand},
		{"check", "validate a config file", checkUsage, checkCommand},
		{"show", "tunnels and counters of a running daemon", showUsage, showCommand},
		{"trace", "stream each packet's path through a running daemon", traceUsage, traceCommand},
		{"explain", "what the datapath would do with one packet, step by step", explainUsage, explainCommand},
		{"demo", "build the three-node mesh in namespaces and ping across it", demoUsage, demoCommand},
		{"version", "the build: module version, commit, Go version", versionUsage, versionCommand},
		{"help", "help on a command", "usage: ipipd help [COMMAND]", helpCommand},
	}
}

func main() {
	os.Exit(dispatch(os.Args[1:]))
}

func dispatch(args []string) int {
	if len(args) == 0 {
		printHelp()
		return exitUsage
	}
	if args[0] == "-h" || args[0] == "--help" {
		printHelp()
		return exitOK
	}
	if args[0] == "--version" { // as most daemons answer it
		return versionCommand(nil)
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(args[1:])
		}
	}
	fmt.Fprintf(os.Stderr, "ipipd: unknown command %q; want one of run, check, show, trace, explain, demo, version, help\n", args[0])
	return exitUsage
}

func printHelp() {
	fmt.Println("ipipd: a userspace IPIP (IPv4-in-IPv4, protocol 4) tunnel daemon that peers with the kernel's ipip module")
	fmt.Println()
	fmt.Println("usage: ipipd COMMAND [OPTIONS]")
	fmt.Println()
	for _, c := range commands {
		fmt.Printf("  %-8s %s\n", c.name, c.summary)
	}
	fmt.Println()
	fmt.Println("`ipipd help COMMAND` or `ipipd COMMAND -h` describes one. Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config.")
}

func helpCommand(args []string) int {
	if len(args) == 0 {
		printHelp()
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			fmt.Println(c.usage)
			return exitOK
		}
	}
	fmt.Fprintf(os.Stderr, "ipipd help: unknown command %q\n", args[0])
	return exitUsage
}

package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

// newFlags returns a flag set that prints usage on -h and reports errors
// the way every command does: message, usage, exit 2.
func newFlags(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() { fmt.Fprintln(os.Stderr, usage) }
	return fs
}

// parse returns -1 when the caller should go on, else the exit code.
func parse(fs *flag.FlagSet, usage string, args []string) int {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fmt.Println(usage)
			return exitOK
		}
		fmt.Fprintf(os.Stderr, "ipipd %s: %v\n%s\n", fs.Name(), err, usage)
		return exitUsage
	}
	if fs.NArg() > 0 && fs.Name() != "explain" {
		fmt.Fprintf(os.Stderr, "ipipd %s: unexpected argument %q\n%s\n", fs.Name(), fs.Arg(0), usage)
		return exitUsage
	}
	return -1
}

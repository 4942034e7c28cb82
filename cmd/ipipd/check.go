package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ipipd/ipipd/internal/config"
)

const checkUsage = `usage: ipipd check -c FILE

Validates a config file without touching the system: prints every error with
its line and what would be accepted, and exits 2 if there is any. What only
the running system can tell (a dev that does not exist, a tunnel name an
existing device already has) is checked by run, which then exits 1.`

func checkCommand(args []string) int {
	fs := newFlags("check", checkUsage)
	path := fs.String("c", "", "config file")
	if code := parse(fs, checkUsage, args); code >= 0 {
		return code
	}
	if *path == "" {
		fmt.Fprintf(os.Stderr, "ipipd check: -c FILE is required\n%s\n", checkUsage)
		return exitUsage
	}
	cfg, code := loadConfig(*path)
	if cfg == nil {
		return code
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(os.Stderr, "warning: %s\n", w)
	}
	fmt.Printf("%s: ok, %d tunnel(s)\n", *path, len(cfg.Tunnels))
	for _, t := range cfg.Tunnels {
		kind := "point-to-point"
		switch {
		case t.IsFallback():
			kind = "fallback (like tunl0)"
		case !t.Remote.IsValid():
			kind = "one-to-many"
		}
		accept := "any"
		if t.AcceptFrom.On() {
			accept = strings.Join(t.AcceptFrom.Words(), " ")
		}
		fmt.Printf("  %s: %s, %d address(es), %d route(s), accept from %s\n", t.Name, kind, len(t.Addresses), len(t.Routes), accept)
	}
	return exitOK
}

// loadConfig loads and validates path; on error it prints every problem
// and returns a nil config with the exit code.
func loadConfig(path string) (*config.Config, int) {
	cfg, err := config.Load(path)
	if err == nil {
		return cfg, exitOK
	}
	return nil, reportConfigError(path, err)
}

// reportConfigError prints why the file at path was refused, each of its
// errors on a line, and returns the exit code.
func reportConfigError(path string, err error) int {
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintln(os.Stderr, e)
		}
		fmt.Fprintf(os.Stderr, "%s: %d error(s)\n", path, len(errs))
		return exitUsage
	}
	fmt.Fprintf(os.Stderr, "ipipd: %v\n", err)
	return exitUsage
}

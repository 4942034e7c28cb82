package main

import (
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/ipipd/ipipd/internal/buildinfo"
)

const versionUsage = `usage: ipipd version

Prints the build: the module version, the commit it was built from
("+dirty": with uncommitted changes) and the Go toolchain, as the
ipipd_build_info metric labels them. "unknown" means the binary does not
record it (built outside a git checkout, or with -buildvcs=false).`

func versionCommand(args []string) int {
	fs := newFlags("version", versionUsage)
	if code := parse(fs, versionUsage, args); code >= 0 {
		return code
	}
	writeVersion(os.Stdout, buildinfo.Read())
	return exitOK
}

// writeVersion prints b: the version on the first line, as `ipipd
// version | head -1` would want, then the commit and the toolchain.
func writeVersion(w io.Writer, b buildinfo.Info) {
	fmt.Fprintf(w, "ipipd %s\n", b.Version)
	if b.Time != "" {
		fmt.Fprintf(w, "revision  %s (%s)\n", b.Revision, b.Time)
	} else {
		fmt.Fprintf(w, "revision  %s\n", b.Revision)
	}
	fmt.Fprintf(w, "go        %s %s/%s\n", b.GoVersion, runtime.GOOS, runtime.GOARCH)
}

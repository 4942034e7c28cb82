// Package buildinfo reads what the Go toolchain stamped into the running
// binary (runtime/debug.ReadBuildInfo): the module version, the commit it
// was built from and the Go version, for `ipipd version` and the
// ipipd_build_info metric, so a bug report or a dashboard can name the
// exact build.
package buildinfo

import "runtime/debug"

// Unknown stands for what the binary does not record: `go build` stamps the
// commit only when it builds inside a git checkout with git installed, and
// `go test` and -buildvcs=false never do.
const Unknown = "unknown"

// Info identifies a build.
type Info struct {
	// Version is the main module's version: a tag such as v1.2.0, a
	// pseudo-version (v0.0.0-DATE-COMMIT, with +dirty), or "(devel)".
	Version string
	// Revision is the commit, with "+dirty" when the checkout had
	// uncommitted changes.
	Revision string
	// Time is the commit's time (RFC 3339), or "".
	Time string
	// GoVersion is the toolchain that built the binary, such as go1.26.8.
	GoVersion string
}

// Read returns the running binary's build information.
func Read() Info {
	bi, _ := debug.ReadBuildInfo()
	return From(bi)
}

// From picks Info out of bi; nil (a binary built without module support)
// gives Unknown everywhere.
func From(bi *debug.BuildInfo) Info {
	info := Info{Version: Unknown, Revision: Unknown, GoVersion: Unknown}
	if bi == nil {
		return info
	}
	if bi.Main.Version != "" {
		info.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && info.Revision != Unknown {
		info.Revision += "+dirty"
	}
	return info
}

package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestFrom(t *testing.T) {
	vcs := func(revision, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: revision},
			{Key: "vcs.time", Value: "2025-12-07T00:45:00Z"},
			{Key: "vcs.modified", Value: modified},
		}
	}
	const commit = "dc3c98712345678901234567890123456789abcd"
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want Info
	}{
		{"a tagged release", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"}, Settings: vcs(commit, "false")},
			Info{"v1.2.0", commit, "2025-12-07T00:45:00Z", "go1.26.8"}},
		{"a dirty checkout", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20251207004500-dc3c98712345+dirty"}, Settings: vcs(commit, "true")},
			Info{"v0.0.0-20251207004500-dc3c98712345+dirty", commit + "+dirty", "2025-12-07T00:45:00Z", "go1.26.8"}},
		{"go test, or -buildvcs=false", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			Info{"(devel)", Unknown, "", "go1.26.8"}},
		{"no build information", nil, Info{Unknown, Unknown, "", Unknown}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := From(tc.bi); got != tc.want {
				t.Errorf("From = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// Read works in a test binary too, which records the Go version.
func TestRead(t *testing.T) {
	if got := Read(); got.GoVersion == Unknown {
		t.Errorf("Read = %+v: no Go version", got)
	}
}

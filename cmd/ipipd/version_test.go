package main

import (
	"runtime"
	"strings"
	"testing"

	"github.com/ipipd/ipipd/internal/buildinfo"
)

func TestWriteVersion(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	for _, tc := range []struct {
		name string
		info buildinfo.Info
		want string
	}{
		{"a dirty checkout", buildinfo.Info{Version: "v0.0.0-20251207004500-dc3c98712345+dirty", Revision: "dc3c987+dirty", Time: "2025-12-07T00:45:00Z", GoVersion: "go1.26.8"},
			"ipipd v0.0.0-20251207004500-dc3c98712345+dirty\nrevision  dc3c987+dirty (2025-12-07T00:45:00Z)\ngo        go1.26.8 " + platform + "\n"},
		{"no commit recorded", buildinfo.Info{Version: "(devel)", Revision: buildinfo.Unknown, GoVersion: "go1.26.8"},
			"ipipd (devel)\nrevision  unknown\ngo        go1.26.8 " + platform + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			writeVersion(&b, tc.info)
			if b.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tc.want)
			}
		})
	}
}

func TestVersionRefusesArguments(t *testing.T) {
	if code := dispatch([]string{"version", "extra"}); code != exitUsage {
		t.Errorf("ipipd version extra: exit %d, want %d", code, exitUsage)
	}
}

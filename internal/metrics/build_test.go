package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ipipd/ipipd/internal/buildinfo"
)

func TestBuildInfo(t *testing.T) {
	g := newBuildInfo(buildinfo.Info{Version: "v1.2.0", Revision: "dc3c987+dirty", GoVersion: "go1.26.8"})
	want := `ipipd_build_info{goversion="go1.26.8",revision="dc3c987+dirty",version="v1.2.0"} 1`
	if text := exposition(t, g); !strings.Contains(text, want+"\n") {
		t.Errorf("missing %q in\n%s", want, text)
	}
	problems, err := testutil.CollectAndLint(g)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

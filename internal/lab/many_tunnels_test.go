package lab

import (
	"strings"
	"testing"
)

// The generated config gives each tunnel its own remote and the routes in
// turn, and the extra routes to t0.
func TestManyTunnels(t *testing.T) {
	c := ManyTunnels(2, 3, 1, "offload")
	for _, want := range []string{"name: t0", "remote: 10.32.0.1", "name: t1", "remote: 10.32.0.2", "{to: 10.64.0.0/28}", "{to: 10.64.0.16/28}", "{to: 10.64.0.32/28}", "{to: 10.64.0.48/28}"} {
		if !strings.Contains(c, want) {
			t.Errorf("config lacks %q:\n%s", want, c)
		}
	}
	if strings.Index(c, "10.64.0.48/28") > strings.Index(c, "name: t1") {
		t.Errorf("the extra route is not on t0:\n%s", c)
	}
}

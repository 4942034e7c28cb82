package main

import (
	"fmt"
	"testing"
)

func TestServiceStatus(t *testing.T) {
	tunnels := func(n int) []string {
		var names []string
		for i := range n {
			names = append(names, fmt.Sprint("t", i))
		}
		return names
	}
	for _, tc := range []struct {
		n    int
		want string
	}{
		{0, "running, no tunnels"},
		{1, "running, 1 tunnel: t0"},
		{2, "running, 2 tunnels: t0, t1"},
		{10, "running, 10 tunnels: t0, t1, t2, t3, t4, t5, t6, t7, and 2 more"},
	} {
		if got := serviceStatus(tunnels(tc.n)); got != tc.want {
			t.Errorf("%d tunnels: %q, want %q", tc.n, got, tc.want)
		}
	}
}

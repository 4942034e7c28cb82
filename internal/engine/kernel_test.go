package engine

import (
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/ipipd/ipipd/internal/kernelview"
)

// A multipath route's weights keep their ratio in the route table.
func TestMultipathRepeatsKeepTheRatio(t *testing.T) {
	tests := []struct{ weights, want []int }{
		{[]int{1, 1}, []int{1, 1}},
		{[]int{2, 1}, []int{2, 1}},
		{[]int{20, 40}, []int{1, 2}},
		{[]int{1, 256}, []int{1, 16}},
		{[]int{100, 200, 300}, []int{1, 2, 3}},
		{[]int{17, 34}, []int{1, 2}},
		{[]int{17, 32}, []int{9, 16}},
	}
	for _, tt := range tests {
		hops := make([]kernelview.Route, len(tt.weights))
		for i, w := range tt.weights {
			hops[i].Weight = w
		}
		if got := repeats(hops); !slices.Equal(got, tt.want) {
			t.Errorf("weights %v: repeats %v, want %v", tt.weights, got, tt.want)
		}
	}
}

// A View made before the watcher was told of a device says nothing of it:
// following it must not take the device for deleted (nor ask the kernel
// after each of a start's 10 000 devices with the engine's lock held).
func TestAViewSaysNothingOfDevicesItDoesNotWatch(t *testing.T) {
	e := &Engine{log: slog.New(slog.NewTextHandler(io.Discard, nil)), runtimes: map[string]*runtime{}}
	rt := newRuntime("t1", nil, nil)
	rt.ifindex = 1 << 30 // no such device: asked after, it is gone
	e.runtimes["t1"] = rt
	e.state.Store(&state{index: map[*runtime]int{}})
	st, done := e.applyLinks(&kernelview.View{Links: map[int]kernelview.Link{}, Watched: map[int]int{}})
	if done || st == nil || e.runtimes["t1"] != rt {
		t.Fatalf("a device the View does not watch was taken for deleted (done %v, runtime kept %v)", done, e.runtimes["t1"] == rt)
	}
}

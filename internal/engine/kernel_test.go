package engine

import (
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

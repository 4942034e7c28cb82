package lab

import (
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	if got := Median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("odd count: %v, want 2", got)
	}
	if got := Median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("even count: %v, want 2.5", got)
	}
	if got := Median([]time.Duration{30, 10}); got != 20 {
		t.Errorf("durations: %v, want 20", got)
	}
	if got := Median([]float64(nil)); got != 0 {
		t.Errorf("none: %v, want 0", got)
	}
	xs := []float64{3, 1, 2}
	Median(xs)
	if xs[0] != 3 {
		t.Error("Median sorted its argument")
	}
}

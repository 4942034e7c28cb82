package main

import (
	"math"
	"slices"

	"github.com/ipipd/ipipd/internal/lab"
)

// median of xs (mean of the middle two for an even count); NaN when empty.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	return lab.Median(xs)
}

// summary is the median and range of one metric over the repetitions.
type summary struct {
	Median, Min, Max float64
	N                int // repetitions that produced a value
}

func summarize(xs []float64) summary {
	if len(xs) == 0 {
		return summary{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	return summary{Median: median(xs), Min: slices.Min(xs), Max: slices.Max(xs), N: len(xs)}
}

func (s summary) ok() bool { return s.N > 0 }

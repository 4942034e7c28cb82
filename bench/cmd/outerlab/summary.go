package outerlab

import "sort"

// Median is the median of f over the runs of one case, the upper middle
// one of an even count: the figure the prototypes' tables print, since a
// single run on these machines says little.
func Median[R any](runs []R, f func(R) float64) float64 {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

package lab

import "slices"

// Median is the middle of xs, the mean of the middle two for an even
// count, and zero for none: the benchmarks' one summary of repeated runs.
func Median[T ~int64 | ~float64](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

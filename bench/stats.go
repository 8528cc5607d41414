package bench

import (
	"math"
	"sort"
)

// Summary describes one series of measurements. The median and the
// p10–p90 band are what the reports print: on a noisy two-core machine the
// mean is dragged around by a few descheduled runs, the median is not.
type Summary struct {
	N                          int
	Median, P10, P90, Min, Max float64
}

// Summarize returns the summary of xs. xs is not modified. An empty series
// gives a Summary with N == 0 and NaN statistics.
func Summarize(xs []float64) Summary {
	if len(xs) == 0 {
		nan := math.NaN()
		return Summary{Median: nan, P10: nan, P90: nan, Min: nan, Max: nan}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return Summary{
		N:      len(s),
		Median: Quantile(s, 0.5),
		P10:    Quantile(s, 0.1),
		P90:    Quantile(s, 0.9),
		Min:    s[0],
		Max:    s[len(s)-1],
	}
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of sorted, interpolating
// linearly between the two closest ranks (Hyndman and Fan's type 7, the
// default of R and NumPy), so that small series still give distinct p10 and
// p90 values.
//
// Preconditions: sorted is sorted in ascending order.
func Quantile(sorted []float64, q float64) float64 {
	n := len(sorted)
	switch {
	case n == 0:
		return math.NaN()
	case n == 1 || q <= 0:
		return sorted[0]
	case q >= 1:
		return sorted[n-1]
	}
	h := q * float64(n-1)
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= n {
		return sorted[n-1]
	}
	return sorted[i] + (h-lo)*(sorted[i+1]-sorted[i])
}

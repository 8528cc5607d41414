package bench

import (
	"math"
	"testing"
)

func TestQuantile(t *testing.T) {
	ten := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	tests := []struct {
		name   string
		sorted []float64
		q      float64
		want   float64
	}{
		{"median of even count", ten, 0.5, 5.5},
		{"p10 interpolates", ten, 0.1, 1.9},
		{"p90 interpolates", ten, 0.9, 9.1},
		{"q=0 is the minimum", ten, 0, 1},
		{"q=1 is the maximum", ten, 1, 10},
		{"median of odd count", []float64{1, 2, 100}, 0.5, 2},
		{"single value", []float64{7}, 0.9, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Quantile(tt.sorted, tt.q); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("Quantile(%v, %v) = %v, want %v", tt.sorted, tt.q, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	s := Summarize(xs)
	if s.N != 5 || s.Median != 3 || s.Min != 1 || s.Max != 5 {
		t.Errorf("Summarize(%v) = %+v", xs, s)
	}
	if xs[0] != 5 {
		t.Errorf("Summarize sorted its input: %v", xs)
	}
	if e := Summarize(nil); e.N != 0 || !math.IsNaN(e.Median) {
		t.Errorf("Summarize(nil) = %+v, want N=0 and NaN median", e)
	}
}

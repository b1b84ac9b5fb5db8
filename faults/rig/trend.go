package rig

import (
	"fmt"
	"slices"
)

// Trend is how a series sampled over a long run moved after its warm-up:
// the medians of the middle and last thirds of the samples after warm-up
// (medians, so that a sample taken during a burst does not count), and the
// least-squares slope over all of them.
type Trend struct {
	Samples      int     // samples after warm-up
	Middle, Last float64 // medians of the middle and last thirds
	Slope        float64 // units of y per unit of x
}

// TrendOf computes the Trend of y against x over the samples whose x is at
// least warm. With fewer than 6 such samples it has Samples < 6 and zero
// medians.
func TrendOf(x, y []float64, warm float64) Trend {
	var xs, ys []float64
	for i := range min(len(x), len(y)) {
		if x[i] >= warm {
			xs, ys = append(xs, x[i]), append(ys, y[i])
		}
	}
	tr := Trend{Samples: len(xs)}
	if len(xs) < 6 {
		return tr
	}
	n := len(ys) / 3
	tr.Middle = median(ys[n : 2*n])
	tr.Last = median(ys[len(ys)-n:])
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx /= float64(len(xs))
	my /= float64(len(ys))
	var sxy, sxx float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	if sxx > 0 {
		tr.Slope = sxy / sxx
	}
	return tr
}

// Grows reports whether the last third's median exceeds the middle
// third's by more than rel of it plus abs: a growth trend.
func (tr Trend) Grows(rel, abs float64) bool {
	return tr.Samples >= 6 && tr.Last > tr.Middle*(1+rel)+abs
}

func (tr Trend) String() string {
	return fmt.Sprintf("%.1f->%.1f", tr.Middle, tr.Last)
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

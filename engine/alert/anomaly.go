package alert

import (
	"math"
	"slices"
)

// Anomaly detection uses a robust z-score (Iglewicz and Hoaglin's modified
// z-score): z = 0.6745 · (x − median) / MAD, where MAD is the median of
// the absolute deviations from the median of the baseline (the template's
// last 50 run durations, or the failure rates of its last 20 blocks of 10
// runs). Why robust: run durations are skewed and a few very slow runs
// (a retry, a cold cache) are normal; a mean and standard deviation would
// be dragged by exactly the outliers we want to find, and would need a
// normal distribution durations do not have. Median and MAD ignore up to
// half the baseline being odd. 3.5 is the customary threshold
// (sensitivity); lower is more sensitive.
//
// When MAD is 0 (more than half the baseline identical) the mean absolute
// deviation stands in (scaled by 1.2533, its ratio to the standard
// deviation of a normal distribution); when that is 0 too, any change of at
// least minEffect counts as infinitely far. minEffect also keeps trivial
// changes quiet: a duration must differ from the median by 10 % and a block
// failure rate by 0.2 (two runs in ten) before it can be an anomaly.

func median(xs []float64) float64 {
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

func abs(x float64) float64 { return math.Abs(x) }

// robustZ returns the robust z-score of x against baseline, 0 when x is
// within minEffect of the baseline's median.
func robustZ(baseline []float64, x, minEffect float64) float64 {
	m := median(baseline)
	if abs(x-m) < minEffect {
		return 0
	}
	dev := make([]float64, len(baseline))
	sum := 0.0
	for i, b := range baseline {
		dev[i] = abs(b - m)
		sum += dev[i]
	}
	if mad := median(dev); mad > 0 {
		return 0.6745 * (x - m) / mad
	}
	if mean := sum / float64(len(dev)); mean > 0 {
		return (x - m) / (1.253314 * mean)
	}
	if x > m {
		return math.Inf(1)
	}
	return math.Inf(-1)
}

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

// robust is a baseline's median and spreads, computed once per new
// observation and shared by every rule that judges against it.
type robust struct {
	med, mad, meanAD float64
}

func robustOf(baseline []float64) robust {
	m := median(baseline)
	dev := make([]float64, len(baseline))
	sum := 0.0
	for i, b := range baseline {
		dev[i] = abs(b - m)
		sum += dev[i]
	}
	r := robust{med: m, mad: median(dev)}
	if len(dev) > 0 {
		r.meanAD = sum / float64(len(dev))
	}
	return r
}

// z returns the robust z-score of x, 0 when x is within minEffect of the
// median.
func (r robust) z(x, minEffect float64) float64 {
	if abs(x-r.med) < minEffect {
		return 0
	}
	if r.mad > 0 {
		return 0.6745 * (x - r.med) / r.mad
	}
	if r.meanAD > 0 {
		return (x - r.med) / (1.253314 * r.meanAD)
	}
	if x > r.med {
		return math.Inf(1)
	}
	return math.Inf(-1)
}

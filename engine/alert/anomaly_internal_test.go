package alert

import (
	"math"
	"testing"
)

func TestRobustZ(t *testing.T) {
	base := []float64{10, 11, 9, 10, 12, 10, 9, 11, 10, 100} // one outlier in the baseline
	r := robustOf(base)
	if r.med != 10 || r.mad != 1 {
		t.Fatalf("median %v, MAD %v; want 10 and 1 (the outlier moves neither)", r.med, r.mad)
	}
	if z := r.z(14, 0); math.Abs(z-0.6745*4) > 1e-9 {
		t.Errorf("z(14) = %v, want 2.698", z)
	}
	if z := r.z(10.5, 1); z != 0 {
		t.Errorf("a change under minEffect scored %v", z)
	}
	flat := robustOf([]float64{0, 0, 0, 0, 0, 0, 0.1})
	if z := flat.z(0.3, 0.2); z <= 3.5 {
		t.Errorf("MAD 0: mean absolute deviation should stand in, z = %v", z)
	}
	if z := robustOf([]float64{0, 0, 0}).z(0.5, 0.2); !math.IsInf(z, 1) {
		t.Errorf("no spread at all: z = %v, want +Inf", z)
	}
}

package load

import (
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	tests := []struct {
		v          uint64
		bucket     int
		low, width uint64
	}{
		{0, 0, 0, 1},
		{63, 63, 63, 1},
		{64, 64, 64, 1},
		{127, 127, 127, 1},
		{128, 128, 128, 2},
		{129, 128, 128, 2},
		{130, 129, 130, 2},
		{255, 191, 254, 2},
		{256, 192, 256, 4},
		{1000, 4*64 + 61, 1000, 8}, // 1000>>3 = 125: bucket (3+1)*64 + 125-64
		{1 << 63, numBuckets - 64, 1 << 63, 1 << 57},
		{^uint64(0), numBuckets - 1, 127 << 57, 1 << 57},
	}
	for _, tt := range tests {
		b := bucketOf(tt.v)
		if b != tt.bucket {
			t.Errorf("bucketOf(%d) = %d, want %d", tt.v, b, tt.bucket)
			continue
		}
		low, width := bucketLow(b)
		if low != tt.low || width != tt.width {
			t.Errorf("bucketLow(%d) = %d, %d; want %d, %d", b, low, width, tt.low, tt.width)
		}
		if tt.v < low || tt.v-low >= width {
			t.Errorf("value %d outside its bucket [%d, %d+%d)", tt.v, low, low, width)
		}
	}
}

func TestQuantile(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 {
		t.Fatal("empty histogram: Quantile != 0")
	}
	for i := 1; i <= 1000; i++ {
		h.Record(int64(i) * int64(time.Microsecond))
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0, time.Microsecond},
		{0.5, 500 * time.Microsecond},
		{0.99, 990 * time.Microsecond},
		{0.999, 999 * time.Microsecond},
		{1, 1000 * time.Microsecond},
	}
	for _, tt := range tests {
		got := h.Quantile(tt.q)
		if d := got - tt.want; d < -tt.want/64 || d > tt.want/64 {
			t.Errorf("Quantile(%v) = %v, want %v within 1/64", tt.q, got, tt.want)
		}
	}
	if h.Count() != 1000 || h.Max() != time.Millisecond || h.Mean() != 500500*time.Nanosecond {
		t.Errorf("count %d max %v mean %v; want 1000, 1ms, 500.5µs", h.Count(), h.Max(), h.Mean())
	}
}

func TestMergeAndNegative(t *testing.T) {
	var a, b Histogram
	a.Record(-5) // a clock step backwards counts as 0
	b.Record(100)
	b.Record(300)
	a.Merge(&b)
	if a.Count() != 3 || a.Quantile(0) != 0 || a.Max() != 300 || a.Quantile(0.5) != 100 {
		t.Errorf("merged: count %d min %v median %v max %v; want 3, 0, 100ns, 300ns",
			a.Count(), a.Quantile(0), a.Quantile(0.5), a.Max())
	}
}

func BenchmarkRecord(b *testing.B) {
	b.ReportAllocs()
	var h Histogram
	for i := 0; b.Loop(); i++ {
		h.Record(int64(i))
	}
}

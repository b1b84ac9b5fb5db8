package load

import (
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: each power of two is split into
// 1<<subBits buckets, so a recorded value is known within 1/64 (1.6%).
const subBits = 6

// numBuckets covers every uint64: values below 1<<subBits have a bucket
// each, then 1<<subBits buckets per power of two up to 2^64.
const numBuckets = (64 - subBits + 1) << subBits

// Histogram counts durations (nanoseconds) in log-linear buckets. Recording
// is a few integer operations and never allocates; a Histogram is about
// 30 KiB and is not safe for concurrent use (give each goroutine its own and
// Merge them).
type Histogram struct {
	counts   [numBuckets]uint64
	n        uint64
	min, max uint64
	sum      uint64
}

// bucketOf returns the bucket of v.
func bucketOf(v uint64) int {
	if v < 1<<subBits {
		return int(v)
	}
	shift := bits.Len64(v) - 1 - subBits // v>>shift is in [64, 128)
	return (shift+1)<<subBits + int(v>>shift) - 1<<subBits
}

// bucketLow returns the smallest value of bucket i and the bucket's width.
func bucketLow(i int) (low, width uint64) {
	if i < 2<<subBits {
		return uint64(i), 1
	}
	shift := i>>subBits - 1
	mant := uint64(1<<subBits + i&(1<<subBits-1))
	return mant << shift, 1 << shift
}

// Record adds one duration of ns nanoseconds (negative counts as 0).
func (h *Histogram) Record(ns int64) {
	v := uint64(max(ns, 0))
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	h.max = max(h.max, v)
	h.n++
	h.sum += v
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest recorded value.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the average of the recorded values.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / h.n)
}

// Quantile returns the value below which a fraction q (0..1) of the
// recorded values fall: the middle of the bucket that holds the value of
// rank ceil(q*n), clamped to the exact minimum and maximum. 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.999999999)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			low, width := bucketLow(i)
			v := low + (width-1)/2
			return time.Duration(min(max(v, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

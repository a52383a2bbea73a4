package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// subBits sets the histogram's precision: each power of two is split into
// 2^subBits buckets, so a reported percentile is within 1/64 (1.6 %) of the
// true value.
const subBits = 6

const (
	subCount   = 1 << subBits // buckets per power of two
	linearMax  = 2 * subCount // values below this have a bucket each
	numBuckets = linearMax + 57*subCount
)

// Histogram counts durations in log-linear buckets. Record is safe for
// concurrent use and does not allocate; Snapshot merges a consistent-enough
// copy for reporting while recording continues.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64 // nanoseconds; saturates far beyond any run
	max    atomic.Int64
	min    atomic.Int64 // 0 means unset; stored as value+1
}

// bucketOf returns the bucket index of v ≥ 0.
func bucketOf(v uint64) int {
	if v < linearMax {
		return int(v)
	}
	e := bits.Len64(v) - (subBits + 1) // ≥ 1
	m := v >> uint(e)                  // in [subCount, 2*subCount)
	return linearMax + (e-1)*subCount + int(m-subCount)
}

// bucketRange returns the smallest and largest value of bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < linearMax {
		return uint64(i), uint64(i)
	}
	e := uint((i-linearMax)/subCount + 1)
	m := uint64((i-linearMax)%subCount + subCount)
	return m << e, (m+1)<<e - 1
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(uint64(v))].Add(1)
	h.n.Add(1)
	h.sum.Add(uint64(v))
	for {
		cur := h.max.Load()
		if v <= cur || h.max.CompareAndSwap(cur, v) {
			break
		}
	}
	for {
		cur := h.min.Load()
		if (cur != 0 && v+1 >= cur) || h.min.CompareAndSwap(cur, v+1) {
			break
		}
	}
}

// Snapshot is a frozen copy of a Histogram.
type Snapshot struct {
	counts [numBuckets]uint64
	N      uint64
	Sum    time.Duration
	Max    time.Duration
	Min    time.Duration
}

// Snapshot copies h.
func (h *Histogram) Snapshot() *Snapshot {
	s := &Snapshot{}
	s.Merge(h)
	return s
}

// Merge adds h's counts to s.
func (s *Snapshot) Merge(h *Histogram) {
	var n uint64
	for i := range h.counts {
		c := h.counts[i].Load()
		s.counts[i] += c
		n += c
	}
	s.N += n
	s.Sum += time.Duration(h.sum.Load())
	if m := time.Duration(h.max.Load()); m > s.Max {
		s.Max = m
	}
	if m := h.min.Load(); m != 0 && (s.Min == 0 || time.Duration(m-1) < s.Min) {
		s.Min = time.Duration(m - 1)
	}
}

// Quantile returns the value at quantile q in [0, 1]: the exact min or max
// at the ends, otherwise the midpoint of the bucket holding it, clamped to
// the observed min and max. It is 0 when nothing was recorded.
func (s *Snapshot) Quantile(q float64) time.Duration {
	if s.N == 0 {
		return 0
	}
	q = math.Max(0, math.Min(1, q))
	rank := uint64(math.Ceil(q * float64(s.N)))
	switch {
	case rank <= 1:
		return s.Min
	case rank >= s.N:
		return s.Max
	}
	var seen uint64
	for i, c := range s.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			v := time.Duration(lo + (hi-lo)/2)
			return max(s.Min, min(v, s.Max))
		}
	}
	return s.Max
}

// Mean returns the average recorded value.
func (s *Snapshot) Mean() time.Duration {
	if s.N == 0 {
		return 0
	}
	return s.Sum / time.Duration(s.N)
}

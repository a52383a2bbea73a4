package bench

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

func TestBucketsCoverEveryValue(t *testing.T) {
	vals := []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 123456789, 1<<62 + 5, 1<<63 - 1}
	for i := 0; i < 10000; i++ {
		vals = append(vals, rand.Uint64N(1<<40))
	}
	for _, v := range vals {
		b := bucketOf(v)
		if b < 0 || b >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, out of range", v, b)
		}
		lo, hi := bucketRange(b)
		if v < lo || v > hi {
			t.Fatalf("%d in bucket %d = [%d, %d]", v, b, lo, hi)
		}
		if v >= linearMax && float64(hi-lo+1)/float64(lo) > 1.0/subCount+1e-9 {
			t.Fatalf("bucket %d [%d, %d] wider than 1/%d of its start", b, lo, hi, subCount)
		}
	}
}

func TestBucketsAreContiguous(t *testing.T) {
	_, prevHi := bucketRange(0)
	for i := 1; i < numBuckets; i++ {
		lo, hi := bucketRange(i)
		if lo != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d = [%d, %d] does not follow %d", i, lo, hi, prevHi)
		}
		prevHi = hi
	}
}

func TestQuantiles(t *testing.T) {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	s := h.Snapshot()
	if s.N != 1000 || s.Max != time.Second || s.Min != time.Millisecond {
		t.Fatalf("n=%d max=%v min=%v", s.N, s.Max, s.Min)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.9, 900 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}, {0, time.Millisecond}} {
		got := s.Quantile(c.q)
		if d := got - c.want; d < -c.want/60 || d > c.want/60 {
			t.Errorf("q%.2f = %v, want %v ± 1.6%%", c.q, got, c.want)
		}
	}
	if m := s.Mean(); m < 500*time.Millisecond || m > 501*time.Millisecond {
		t.Errorf("mean = %v, want 500.5ms", m)
	}
}

func TestQuantileEdgeCases(t *testing.T) {
	var h Histogram
	if q := h.Snapshot().Quantile(0.99); q != 0 {
		t.Fatalf("empty histogram p99 = %v", q)
	}
	h.Record(-time.Second)
	h.Record(7 * time.Millisecond)
	s := h.Snapshot()
	if s.Min != 0 || s.Max != 7*time.Millisecond {
		t.Fatalf("min %v max %v, want 0 and 7ms (negative counts as 0)", s.Min, s.Max)
	}
	if q := s.Quantile(1); q != 7*time.Millisecond {
		t.Fatalf("p100 = %v, want the max", q)
	}
}

func TestSnapshotMergesShards(t *testing.T) {
	var a, b Histogram
	a.Record(time.Millisecond)
	b.Record(3 * time.Millisecond)
	s := &Snapshot{}
	s.Merge(&a)
	s.Merge(&b)
	if s.N != 2 || s.Min != time.Millisecond || s.Max != 3*time.Millisecond {
		t.Fatalf("merged n=%d min=%v max=%v", s.N, s.Min, s.Max)
	}
}

func TestRecordConcurrently(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				h.Record(time.Duration(i) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	if s := h.Snapshot(); s.N != 8000 || s.Max != 999*time.Microsecond {
		t.Fatalf("n=%d max=%v", s.N, s.Max)
	}
}

func BenchmarkRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(time.Duration(i&0xffff) * time.Microsecond)
	}
}

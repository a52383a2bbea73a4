package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/sqlite"
	"github.com/reddot-dev/reddot/storetest"
)

func benchStore(b *testing.B) *sqlite.Store {
	b.Helper()
	return MustOpen(b, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{})
}

func valid(b *testing.B, m reddot.Message) []reddot.Message {
	b.Helper()
	if err := m.Validate(reddot.Limits{}); err != nil {
		b.Fatal(err)
	}
	return []reddot.Message{m}
}

// report adds the rate of ops per second and the mean batch size.
func report(b *testing.B, s *sqlite.Store, unit string) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
	if st := s.Stats(); st.Commits > 0 {
		b.ReportMetric(float64(st.Jobs)/float64(st.Commits), "jobs/commit")
	}
}

// BenchmarkPublishTopic publishes one event per call from many goroutines,
// so that group commit batches them.
func BenchmarkPublishTopic(b *testing.B) {
	s := benchStore(b)
	msgs := make([][]reddot.Message, 8)
	for i := range msgs {
		msgs[i] = valid(b, storetest.Topic(fmt.Sprint("bench-", i), `{"price":42.5,"symbol":"ABC"}`))
	}
	var next atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		m := msgs[next.Add(1)%int64(len(msgs))]
		for pb.Next() {
			if _, err := s.Publish(context.Background(), m); err != nil {
				b.Error(err)
				return
			}
		}
	})
	report(b, s, "events/s")
}

// BenchmarkPublishTopicSerial is one publisher waiting for each commit: the
// cost of one fsync per event.
func BenchmarkPublishTopicSerial(b *testing.B) {
	s := benchStore(b)
	m := valid(b, storetest.Topic("serial", `{"n":1}`))
	for b.Loop() {
		if _, err := s.Publish(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
	report(b, s, "events/s")
}

// BenchmarkPublishNotification sends one notification per call to one of
// 1000 users, from many goroutines.
func BenchmarkPublishNotification(b *testing.B) {
	s := benchStore(b)
	msgs := make([][]reddot.Message, 1000)
	for i := range msgs {
		msgs[i] = valid(b, storetest.Notify(fmt.Sprint("cat", i%4), "You have a new comment", fmt.Sprint("user", i)))
	}
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Publish(context.Background(), msgs[rand.IntN(len(msgs))]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	report(b, s, "notifications/s")
}

// BenchmarkUnread reads the counts of random users of an inbox holding
// 20 000 notifications and 50 broadcasts in 5 categories.
func BenchmarkUnread(b *testing.B) {
	s := benchStore(b)
	const users = 1000
	var batch []reddot.Message
	for i := range 20000 {
		batch = append(batch, valid(b, storetest.Notify(fmt.Sprint("cat", i%5), "t", fmt.Sprint("user", i%users)))...)
		if len(batch) == 500 {
			storetest.MustPublish(b, s, batch...)
			batch = batch[:0]
		}
	}
	for i := range 50 {
		storetest.MustPublish(b, s, storetest.Broadcast(fmt.Sprint("cat", i%5), "b"))
	}
	for i := range users / 2 {
		if _, _, err := s.MarkRead(context.Background(), fmt.Sprint("user", i), reddot.ReadRequest{Category: "cat1"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c, err := s.Unread(context.Background(), fmt.Sprint("user", rand.IntN(users)))
			if err != nil || c.Total == 0 {
				b.Errorf("Unread = %+v, %v", c, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}

// BenchmarkPublishNotificationBulk sends notifications the way a backend
// fans one out: 100 recipients per request, several requests at once.
// The metric counts notifications (one per recipient).
func BenchmarkPublishNotificationBulk(b *testing.B) {
	s := benchStore(b)
	const perRequest = 100
	msgs := make([][]reddot.Message, 50)
	for i := range msgs {
		users := make([]string, perRequest)
		for j := range users {
			users[j] = fmt.Sprint("user", (i*perRequest+j)%5000)
		}
		msgs[i] = valid(b, storetest.Notify(fmt.Sprint("cat", i%4), "Your order shipped", users...))
	}
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Publish(context.Background(), msgs[rand.IntN(len(msgs))]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*perRequest)/b.Elapsed().Seconds(), "notifications/s")
}

// BenchmarkAckLatency2000 publishes notifications at a steady 2,000/s (one
// goroutine per publish, as concurrent HTTP requests would) and reports
// the publish-to-durable latency percentiles: what POST /v1/publish waits for.
func BenchmarkAckLatency2000(b *testing.B) {
	s := benchStore(b)
	msgs := make([][]reddot.Message, 1000)
	for i := range msgs {
		msgs[i] = valid(b, storetest.Notify("comment", "New reply", fmt.Sprint("user", i)))
	}
	const rate = 2000
	n := max(b.N, 4000)
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	b.ResetTimer()
	for i := 0; i < n; i++ {
		<-tick.C
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			start := time.Now()
			if _, err := s.Publish(context.Background(), msgs[i%len(msgs)]); err != nil {
				b.Error(err)
			}
			lat[i] = time.Since(start)
		}(i)
	}
	wg.Wait()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[n/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[n*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[n-1].Microseconds())/1000, "max-ms")
}

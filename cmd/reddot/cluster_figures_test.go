package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The cluster benchmarks measure three nodes (built without -race) on
// loopback, sharing PostgreSQL and Redis or NATS. They need the same
// REDDOT_TEST_* variables as the cluster tests. The figures in
// docs/deployment.md come from:
//
//	go test -run '^$' -bench ClusterLatency -benchtime 3000x ./cmd/reddot/
//	go test -run '^$' -bench ClusterPublish -benchtime 30000x ./cmd/reddot/

// BenchmarkClusterLatency publishes on node 1, one event at a time, and
// reports how long each takes to reach an SSE subscriber on node 2: HTTP
// publish, PostgreSQL commit, bus, SSE write.
func BenchmarkClusterLatency(b *testing.B) {
	for _, bus := range []string{"redis", "nats"} {
		b.Run(bus, func(b *testing.B) {
			c := startCluster(b, bus, false, "--log-level", "warn")
			sub := subscribe(b, c.node(2), "subscriber", sseQuery(b, "bench", "lat"))
			var lat []time.Duration
			i := 0
			for b.Loop() {
				i++
				start := time.Now()
				c.node(1).publish(b, topicMessage("lat", i))
				evs := sub.haveSeqs(b, "lat", i, 10*time.Second)
				lat = append(lat, evs[i-1].At.Sub(start))
			}
			slices.Sort(lat)
			ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
			b.ReportMetric(ms(0.50), "p50-ms")
			b.ReportMetric(ms(0.99), "p99-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkClusterPublish publishes from 32 concurrent clients spread over
// the three nodes (one topic event per request, 8 topics) while one SSE
// subscriber per node reads all 8 topics, and reports publishes per second
// and the time for the last event to reach every subscriber.
func BenchmarkClusterPublish(b *testing.B) {
	for _, bus := range []string{"redis", "nats"} {
		b.Run(bus, func(b *testing.B) {
			c := startCluster(b, bus, false, "--log-level", "warn")
			const topics = 8
			names := make([]string, topics)
			for i := range names {
				names[i] = fmt.Sprint("load-", i)
			}
			var subs []*sseClient
			for i := 1; i <= 3; i++ {
				subs = append(subs, subscribe(b, c.node(i), fmt.Sprint("subscriber on node ", i),
					sseQuery(b, fmt.Sprint("load-sub-", i), strings.Join(names, ","))))
			}
			client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			var next, failed atomic.Int64
			b.SetParallelism(16) // 32 clients on 2 CPUs
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					k := next.Add(1)
					n := c.nodes[k%3]
					req, _ := http.NewRequest("POST", n.URL+"/v1/publish",
						strings.NewReader(topicMessage(names[k%topics], int(k))))
					req.Header.Set("Authorization", "Bearer "+clusterKey)
					resp, err := client.Do(req)
					if err != nil || resp.StatusCode != 200 {
						failed.Add(1)
					}
					if resp != nil {
						resp.Body.Close()
					}
				}
			})
			b.StopTimer()
			published := b.Elapsed()
			if failed.Load() > 0 {
				b.Fatalf("%d publishes failed", failed.Load())
			}
			start := time.Now()
			total := int(next.Load())
			for _, s := range subs {
				s.waitFor(b, "every event", time.Minute, func(evs []clusterEvent) bool {
					n := 0
					for _, e := range evs {
						if strings.HasPrefix(e.Topic, "load-") {
							n++
						}
					}
					return n >= total
				})
			}
			b.ReportMetric(float64(total)/published.Seconds(), "publishes/s")
			b.ReportMetric(float64(time.Since(start).Milliseconds()), "drain-ms")
		})
	}
}

package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/postgres"
	"github.com/reddot-dev/reddot/postgres/pgtest"
	"github.com/reddot-dev/reddot/storetest"
)

// nodes opens n Stores on one fresh schema, as n reddot nodes would.
func nodes(t *testing.T, n int) []*postgres.Store {
	t.Helper()
	url := pgtest.Schema(t)
	out := make([]*postgres.Store, n)
	for i := range out {
		out[i] = MustOpen(t, url, postgres.Options{})
	}
	return out
}

func valid(tb testing.TB, msgs ...reddot.Message) []reddot.Message {
	tb.Helper()
	for i := range msgs {
		if err := msgs[i].Validate(reddot.Limits{}); err != nil {
			tb.Fatal(err)
		}
	}
	return msgs
}

// TestNodesCommitInSeqOrder publishes to one topic from three stores at once
// while readers on every store tail it by cursor. A seq that committed after
// a higher one would show up as a page that does not start right after the
// cursor, and would be skipped for good by a reader that resumed past it.
func TestNodesCommitInSeqOrder(t *testing.T) {
	ns := nodes(t, 3)
	const writers, each = 6, 150
	total := uint64(writers * each)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range writers {
		s := ns[g%len(ns)]
		wg.Go(func() {
			for i := range each {
				msgs := []reddot.Message{storetest.Topic("hot", fmt.Sprintf(`{"g":%d,"i":%d}`, g, i))}
				if i%5 == 0 { // a second topic in the same transaction, locked in the other order half the time
					side := fmt.Sprint("side-", (g+i)%2)
					msgs = append(msgs, storetest.Topic(side, `0`))
					if i%10 == 0 {
						msgs[0], msgs[1] = msgs[1], msgs[0]
					}
				}
				if _, err := s.Publish(ctx, valid(t, msgs...)); err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
			}
		})
	}
	var readers sync.WaitGroup
	for r, s := range ns {
		readers.Go(func() {
			after := uint64(0)
			deadline := time.Now().Add(time.Minute)
			for after < total && time.Now().Before(deadline) {
				evs, err := s.ReadTopic(ctx, "hot", after, 1+rand.IntN(40))
				if err != nil {
					t.Errorf("reader %d: ReadTopic(%d): %v", r, after, err)
					return
				}
				for _, e := range evs {
					if e.Seq != after+1 {
						t.Errorf("reader %d: after %d got seq %d: an earlier seq was not visible yet", r, after, e.Seq)
						return
					}
					after = e.Seq
				}
			}
			if after != total {
				t.Errorf("reader %d stopped at %d of %d", r, after, total)
			}
		})
	}
	wg.Wait()
	readers.Wait()
	if hs, err := ns[0].Heads(ctx, []string{"hot", "side-0", "side-1"}); err != nil || hs[0] != total || hs[1]+hs[2] != writers*each/5 {
		t.Errorf("Heads = %v, %v; want [%d, sides summing to %d]", hs, err, total, writers*each/5)
	}
}

// TestNodesExactCounts publishes, reads, deletes and broadcasts for one
// user from three stores at once and checks that the counters agree with
// the items.
func TestNodesExactCounts(t *testing.T) {
	ns := nodes(t, 3)
	ctx := context.Background()
	cats := []string{"comment", "like", "system"}
	const publishes, broadcasts = 120, 30
	done := make(chan struct{})
	var pubs, others sync.WaitGroup
	for g, s := range ns {
		pubs.Go(func() {
			for i := range publishes {
				m := storetest.Notify(cats[(g+i)%3], "n", "c", "d")
				if i%(publishes/broadcasts*len(ns)) == 0 {
					m = storetest.Broadcast(cats[i%3], "b")
				}
				if _, err := s.Publish(ctx, valid(t, m)); err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
			}
		})
	}
	for r, s := range ns {
		others.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				items, _, err := s.Inbox(ctx, "c", reddot.InboxQuery{Status: "unread", Limit: 4})
				if err != nil {
					t.Errorf("Inbox: %v", err)
					return
				}
				switch {
				case len(items) > 0 && (r+i)%5 == 0:
					_, err = s.Delete(ctx, "c", items[0].ID)
					if reddot.ErrorCode(err) == reddot.ENOTFOUND { // deleted by another node meanwhile
						err = nil
					}
				case (r+i)%11 == 0:
					_, _, err = s.MarkRead(ctx, "c", reddot.ReadRequest{Category: cats[i%3]})
				default:
					ids := make([]string, len(items))
					for k, n := range items {
						ids[k] = n.ID
					}
					_, _, err = s.MarkRead(ctx, "c", reddot.ReadRequest{IDs: ids})
				}
				if err != nil {
					t.Errorf("reader %d: %v", r, err)
					return
				}
			}
		})
	}
	pubs.Wait()
	close(done)
	others.Wait()
	if t.Failed() {
		return
	}
	for _, user := range []string{"c", "d"} {
		want := map[string]int64{}
		before := ""
		for {
			items, next, err := ns[1].Inbox(ctx, user, reddot.InboxQuery{Status: "unread", Limit: 100, Before: before})
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range items {
				want[n.Category]++
			}
			if next == "" {
				break
			}
			before = next
		}
		for _, s := range ns {
			c, err := s.Unread(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			var total int64
			for _, n := range want {
				total += n
			}
			if c.Total != total || len(c.Categories) != len(want) {
				t.Errorf("Unread(%s) = %+v, items say %v", user, c, want)
			}
			for k, n := range want {
				if c.Categories[k] != n {
					t.Errorf("Unread(%s)[%s] = %d, items say %d", user, k, c.Categories[k], n)
				}
			}
		}
	}
	c, _, err := ns[2].MarkRead(ctx, "c", reddot.ReadRequest{All: true})
	if err != nil || c.Total != 0 {
		t.Errorf("after read all: %+v, %v", c, err)
	}
}

// TestNodesMigrateAtOnce opens several stores on a new schema at the same
// time: one migrates, all agree on the epoch.
func TestNodesMigrateAtOnce(t *testing.T) {
	url := pgtest.Schema(t)
	epochs := make([]uint32, 4)
	var wg sync.WaitGroup
	for i := range epochs {
		wg.Go(func() {
			s, err := postgres.Open(context.Background(), url, postgres.Options{})
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
				return
			}
			epochs[i] = s.Epoch()
			_ = s.Close()
		})
	}
	wg.Wait()
	for i, e := range epochs {
		if e == 0 || e != epochs[0] {
			t.Errorf("epochs %v: node %d differs", epochs, i)
		}
	}
}

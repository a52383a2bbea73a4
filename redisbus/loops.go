package redisbus

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reddot-dev/reddot/internal/buswire"
)

// sendBatch is how many queued messages one pipeline carries at most.
const sendBatch = 64

// sendLoop is the only sender: it pipelines queued messages to Redis in
// order. After a failure it first gets a resync request through, dropping
// what queues meanwhile (the request covers it), then resumes. It returns
// once the queue is closed and drained, or the bus is torn down.
func (b *Bus) sendLoop() {
	defer close(b.sendDone)
	ctx := b.ctx
	retry := backoff{min: 50 * time.Millisecond, max: 2 * time.Second}
	batch := make([]any, 0, sendBatch)
	for {
		if b.lost.Load() {
			if !b.sendResync(ctx) {
				if !b.dropQueued(ctx, retry.next()) {
					return
				}
				continue
			}
			retry.reset()
		}
		var m []byte
		var ok bool
		select {
		case m, ok = <-b.out:
			if !ok {
				return
			}
		case <-b.kick:
			continue
		}
		batch = append(batch[:0], m)
	drain:
		for len(batch) < sendBatch {
			select {
			case m, more := <-b.out:
				if !more {
					break drain
				}
				batch = append(batch, m)
			default:
				break drain
			}
		}
		pipe := b.client.Pipeline()
		for _, m := range batch {
			pipe.Publish(ctx, b.opt.Channel, m)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.markLost(err)
		}
		clear(batch)
	}
}

// sendResync asks every node to catch up from the store and reports
// whether Redis took the request.
func (b *Bus) sendResync(ctx context.Context) bool {
	b.lost.Store(false) // anything lost from now on needs another request
	if err := b.client.Publish(ctx, b.opt.Channel, buswire.Resync).Err(); err != nil {
		b.lost.Store(true)
		return false
	}
	b.opt.Logger.Info("redis bus: publishing again; every node asked to catch up from the store")
	return true
}

// dropQueued discards queued messages for d. It returns false when the
// queue is closed or the bus torn down.
func (b *Bus) dropQueued(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case _, ok := <-b.out:
			if !ok {
				return false
			}
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
}

// recvLoop reads the subscription and hands events to the handler, in the
// order Redis delivers them. go-redis reconnects and resubscribes after a
// connection error; a subscription that stays silent through a ping is
// replaced. Every confirmed (re)subscription calls OnReconnect.
func (b *Bus) recvLoop() {
	defer close(b.recvDone)
	ps := b.ps
	pinged := false
	retry := backoff{min: 50 * time.Millisecond, max: 2 * time.Second}
	for {
		msg, err := ps.ReceiveTimeout(b.ctx, b.opt.PingEvery)
		if b.ctx.Err() != nil {
			return
		}
		if err != nil {
			if isTimeout(err) && !pinged && b.subUp.Load() {
				pinged = true
				if ps.Ping(b.ctx) == nil {
					continue
				}
			}
			pinged = false
			if b.subUp.Swap(false) {
				b.opt.Logger.Warn("redis bus: subscription lost; reconnecting", "err", unwrapNet(err))
			}
			if isTimeout(err) {
				ps = b.replacePubSub(ps)
			}
			if !sleep(b.ctx, retry.next()) {
				return
			}
			continue
		}
		retry.reset()
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				b.subUp.Store(true)
				b.opt.Logger.Info("redis bus: subscription restored")
				b.reconnected()
			}
		case *redis.Message:
			b.deliver(m.Payload)
		}
	}
}

// replacePubSub closes a subscription that stopped answering and starts a
// new one (which connects on the next receive).
func (b *Bus) replacePubSub(old *redis.PubSub) *redis.PubSub {
	b.psMu.Lock()
	defer b.psMu.Unlock()
	_ = old.Close()
	if b.ctx.Err() != nil {
		return old
	}
	b.ps = b.client.Subscribe(b.ctx, b.opt.Channel)
	return b.ps
}

func (b *Bus) deliver(payload string) {
	env, err := buswire.Decode([]byte(payload))
	if err != nil {
		b.opt.Logger.Warn("redis bus: undecodable message ignored", "err", err, "bytes", len(payload))
		return
	}
	if env.Resync {
		b.reconnected()
		return
	}
	h := b.handler.Load()
	if h == nil {
		return
	}
	for _, e := range env.Events {
		(*h)(e)
	}
}

func (b *Bus) reconnected() {
	if b.opt.OnReconnect != nil {
		b.opt.OnReconnect()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// backoff doubles from min to max.
type backoff struct{ min, max, cur time.Duration }

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }

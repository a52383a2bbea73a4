package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Limits of one /v1/publish/batch request on a default server.
const (
	maxBatchLines = 1000
	maxBatchBytes = 900 << 10
)

// publisher sends the run's events through the publish API. Each request
// is stamped with the time it is sent; every event in it carries that
// stamp in its mark.
type publisher struct {
	r      *runner
	client *http.Client
	// lines are the message templates of one event: the JSON before the
	// mark, and how many deliveries the message makes.
	lines []lineTemplate
}

type lineTemplate struct {
	prefix     []byte // `{"topic":"T","data":` or `{"users":[…],"notification":{…,"data":`
	suffix     []byte // `}` or `}}`
	recipients int64
}

// request is the lines of one HTTP request: which event each line is for
// and which template it uses.
type request []struct{ n, tmpl int }

func newPublisher(r *runner) *publisher {
	p := &publisher{r: r, client: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConnsPerHost: r.cfg.Publishers, DisableCompression: true,
			Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true,
		},
	}}
	if r.cfg.Mode == ModeTopic {
		topic, _ := json.Marshal(r.cfg.Topic)
		p.lines = []lineTemplate{{
			prefix:     []byte(`{"topic":` + string(topic) + `,"data":`),
			suffix:     []byte(`}`),
			recipients: r.connected.Load(),
		}}
		return p
	}
	var users []string
	for _, s := range r.subs {
		if s.ok {
			users = append(users, s.user)
		}
	}
	for i := 0; i < len(users); i += r.cfg.UsersPerRequest {
		chunk := users[i:min(i+r.cfg.UsersPerRequest, len(users))]
		list, _ := json.Marshal(chunk)
		p.lines = append(p.lines, lineTemplate{
			prefix:     []byte(`{"users":` + string(list) + `,"notification":{"category":"bench","title":"bench","data":`),
			suffix:     []byte(`}}`),
			recipients: int64(len(chunk)),
		})
	}
	return p
}

// plan splits events [from, to) into requests within the batch limits.
func (p *publisher) plan(from, to int) []request {
	var out []request
	var cur request
	size := 0
	for n := from; n < to; n++ {
		for t, l := range p.lines {
			lineSize := len(l.prefix) + len(l.suffix) + 48
			if len(cur) > 0 && (len(cur) == maxBatchLines || size+lineSize > maxBatchBytes) {
				out = append(out, cur)
				cur, size = nil, 0
			}
			cur = append(cur, struct{ n, tmpl int }{n, t})
			size += lineSize
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// run publishes cfg.Events events at cfg.Rate, cfg.Batch per job, with
// cfg.Publishers requests in flight.
func (p *publisher) run(ctx context.Context) {
	cfg := &p.r.cfg
	jobs := make(chan [2]int)
	var wg sync.WaitGroup
	for w := 0; w < cfg.Publishers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body []byte
			for j := range jobs {
				ok := true
				for _, req := range p.plan(j[0], j[1]) {
					var err error
					if body, err = p.send(ctx, req, body[:0]); err != nil {
						ok = false
					}
				}
				if ok {
					p.r.published.Add(int64(j[1] - j[0]))
				}
			}
		}()
	}
	start := time.Now()
	for from := 0; from < cfg.Events && ctx.Err() == nil; from += cfg.Batch {
		if cfg.Rate > 0 {
			due := start.Add(time.Duration(float64(from) / cfg.Rate * float64(time.Second)))
			if !sleepCtx(ctx, time.Until(due)) {
				break
			}
		}
		select {
		case jobs <- [2]int{from, min(from+cfg.Batch, cfg.Events)}:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
}

// send renders and posts one request and counts the deliveries it makes
// expected.
func (p *publisher) send(ctx context.Context, req request, body []byte) ([]byte, error) {
	t := time.Now().UnixNano()
	var recipients int64
	for i, l := range req {
		if i > 0 {
			body = append(body, '\n')
		}
		tmpl := &p.lines[l.tmpl]
		body = append(body, tmpl.prefix...)
		body = AppendMark(body, t, l.n)
		body = append(body, tmpl.suffix...)
		recipients += tmpl.recipients
	}
	path := "/v1/publish"
	if len(req) > 1 {
		path = "/v1/publish/batch"
	}
	if err := p.post(ctx, path, body); err != nil {
		p.r.pubErrors.Add(1)
		p.r.errs.add(fmt.Errorf("publish: %w", err))
		return body, err
	}
	p.r.expected.Add(recipients)
	return body, nil
}

func (p *publisher) post(ctx context.Context, path string, body []byte) error {
	u := strings.TrimRight(p.r.cfg.URL, "/") + path
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hr.Header.Set("Authorization", "Bearer "+p.r.cfg.APIKey)
	hr.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(hr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return statusError(resp)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

func (p *publisher) close() { p.client.CloseIdleConnections() }

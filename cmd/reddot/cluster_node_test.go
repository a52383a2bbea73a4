package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reddot-dev/reddot/auth"
	"github.com/reddot-dev/reddot/bustest"
	"github.com/reddot-dev/reddot/postgres/pgtest"
)

const (
	clusterSecret = "cluster-secret-0123456789abcdef"
	clusterKey    = "cluster-key-0123456789abcdef"
)

// clusterBinary builds reddot into a directory of tb's; race adds -race.
func clusterBinary(tb testing.TB, race bool) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "reddot")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
	if err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// cluster is three `reddot serve` processes sharing one PostgreSQL schema
// and one bus channel. Node 1 reaches both through proxies the test can cut.
type cluster struct {
	tb         testing.TB
	bin        string
	nodes      []*clusterNode
	storeProxy *bustest.Proxy
	busProxy   *bustest.Proxy
}

// busEnv names the test server of each bus kind.
var busEnv = map[string]struct{ env, what, param string }{
	"redis": {"REDDOT_TEST_REDIS", "Redis cluster", "channel"},
	"nats":  {"REDDOT_TEST_NATS", "NATS cluster", "subject"},
}

// startCluster starts three nodes on a fresh schema and bus namespace. It
// skips tb (fails it on CI) when PostgreSQL or the bus is not configured.
func startCluster(tb testing.TB, bus string, race bool, extra ...string) *cluster {
	tb.Helper()
	b := busEnv[bus]
	busBase := bustest.Service(tb, b.env, b.what)
	store := pgtest.Schema(tb)
	ns := bustest.Namespace()
	busURL := bustest.WithHost(tb, busBase, "", b.param, "reddot-cluster."+ns)
	c := &cluster{tb: tb, bin: clusterBinary(tb, race)}
	c.storeProxy = bustest.NewProxy(tb, bustest.Host(tb, store))
	c.busProxy = bustest.NewProxy(tb, bustest.Host(tb, busURL))
	for i := range 3 {
		s, bu := store, busURL
		if i == 0 {
			s = bustest.WithHost(tb, store, c.storeProxy.Addr(), "", "")
			bu = bustest.WithHost(tb, busURL, c.busProxy.Addr(), "", "")
		}
		args := append([]string{"serve", "--http-addr", "127.0.0.1:0", "--mqtt-addr", "off",
			"--data-dir", tb.TempDir(), "--store", s, "--bus", bu,
			"--jwt-secret", clusterSecret, "--api-keys", clusterKey, "--heartbeat", "1s"}, extra...)
		c.nodes = append(c.nodes, startNode(tb, fmt.Sprint("node", i+1), c.bin, args))
	}
	return c
}

// node returns node i, counting from 1.
func (c *cluster) node(i int) *clusterNode { return c.nodes[i-1] }

// clusterNode is one reddot process started by a test.
type clusterNode struct {
	tb     testing.TB
	name   string
	bin    string
	args   []string
	cmd    *exec.Cmd
	URL    string
	exited chan struct{}
	mu     sync.Mutex
	logs   bytes.Buffer
}

func startNode(tb testing.TB, name, bin string, args []string) *clusterNode {
	tb.Helper()
	n := &clusterNode{tb: tb, name: name, bin: bin, args: args}
	n.start()
	tb.Cleanup(func() {
		n.kill()
		if tb.Failed() {
			tb.Logf("%s logs:\n%s", n.name, n.Logs())
		}
	})
	return n
}

func (n *clusterNode) Write(p []byte) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.logs.Write(p)
}

// Logs returns what the process wrote to stderr.
func (n *clusterNode) Logs() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.logs.String()
}

// start runs the process and waits for its start banner.
func (n *clusterNode) start() {
	n.tb.Helper()
	cmd := exec.Command(n.bin, n.args...)
	cmd.Stderr = n
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		n.tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		n.tb.Fatal(err)
	}
	n.cmd, n.exited = cmd, make(chan struct{})
	up := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "reddot is up: "); ok {
				up <- u
			}
		}
	}()
	exited := n.exited
	go func() { _ = cmd.Wait(); close(exited) }()
	select {
	case n.URL = <-up:
	case <-exited:
		n.tb.Fatalf("%s exited at start:\n%s", n.name, n.Logs())
	case <-time.After(60 * time.Second):
		n.kill()
		n.tb.Fatalf("%s did not come up:\n%s", n.name, n.Logs())
	}
}

// kill sends SIGKILL to the process, if it runs, and waits for it.
func (n *clusterNode) kill() {
	select {
	case <-n.exited:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
}

var clusterHTTP = &http.Client{Timeout: 30 * time.Second}

// do sends a request with a bearer credential and returns status and body.
func (n *clusterNode) do(method, path, cred, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, n.URL+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := clusterHTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// publish posts one message with the API key; it fails tb unless 200.
func (n *clusterNode) publish(tb testing.TB, body string) {
	tb.Helper()
	if err := n.tryPublish(body); err != nil {
		tb.Fatal(err)
	}
}

func (n *clusterNode) tryPublish(body string) error {
	st, b, err := n.do("POST", "/v1/publish", clusterKey, body)
	if err == nil && st != 200 {
		err = fmt.Errorf("%s: publish: %d %s", n.name, st, b)
	}
	return err
}

// ready returns the status of /readyz.
func (n *clusterNode) ready() int {
	st, _, err := n.do("GET", "/readyz", "", "")
	if err != nil {
		return 0
	}
	return st
}

// waitReady waits until /readyz answers want.
func (n *clusterNode) waitReady(tb testing.TB, want int, timeout time.Duration) time.Duration {
	tb.Helper()
	start := time.Now()
	for {
		st := n.ready()
		if st == want {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			tb.Fatalf("%s /readyz = %d after %v, want %d", n.name, st, timeout, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clusterToken mints a subscriber token for user.
func clusterToken(tb testing.TB, user string) string {
	tb.Helper()
	tok, err := auth.Mint([]byte(clusterSecret), auth.Claims{User: user, TTL: time.Hour}, time.Time{})
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func topicMessage(topic string, i int) string {
	return fmt.Sprintf(`{"topic":%q,"data":{"i":%d}}`, topic, i)
}

// unreadTotal reads data.total of an unread event, or data.unread.total of
// a notification event.
func unreadTotal(ev clusterEvent) int64 {
	var d struct {
		Total  *int64 `json:"total"`
		Unread *struct {
			Total int64 `json:"total"`
		} `json:"unread"`
	}
	_ = json.Unmarshal(ev.Data, &d)
	switch {
	case d.Total != nil:
		return *d.Total
	case d.Unread != nil:
		return d.Unread.Total
	}
	return -1
}

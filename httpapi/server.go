// Package httpapi serves reddot's HTTP surface: publish, inbox, the
// streaming and polling transports, and operations endpoints.
package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/engine"
)

// Options configure a Server. Zero fields take defaults.
type Options struct {
	Engine         *engine.Engine
	Auth           reddot.Authenticator
	Logger         *slog.Logger
	AllowedOrigins []string // exact origins or "*"; CORS, WebSocket and iframe postMessage

	Limits       reddot.Limits
	MaxBodyBytes int64 // publish body (1 MiB)
	MaxBatch     int   // lines per batch publish (1000)

	Heartbeat      time.Duration // SSE/iframe comments and WebSocket pings (20 s)
	Retry          time.Duration // reconnect delay suggested to clients (2 s)
	LongPollMax    time.Duration // cap on ?timeout= (60 s)
	LongPollWait   time.Duration // default ?timeout= (25 s)
	PollPage       int           // events per poll answer (100)
	WSReadLimit    int64         // bytes per client frame (64 KiB)
	PingTimeout    time.Duration // WebSocket pong deadline (10 s)
	PublicCacheTTL time.Duration // Cache-Control max-age for anonymous public polls (0: no-store)
	// NoIOUring writes every stream with its own write(2) even where
	// io_uring is available (see batch.go).
	NoIOUring bool
	// WriteDelay holds each stream write for up to this long so that the
	// events arriving meanwhile share it (see pace.go); 0 writes at once.
	WriteDelay time.Duration

	// Extra routes (demo, SDK, MQTT over WebSocket) mounted on the same mux.
	Mount func(mux *http.ServeMux)
}

// Server is the HTTP handler.
type Server struct {
	eng  *engine.Engine
	auth reddot.Authenticator
	log  *slog.Logger
	o    Options
	mux  *http.ServeMux

	rates rates
	wheel *wheel
	pace  *pacer // nil without a write delay
}

// New returns a Server with its routes.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1000
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 20 * time.Second
	}
	if o.Retry <= 0 {
		o.Retry = 2 * time.Second
	}
	if o.LongPollMax <= 0 {
		o.LongPollMax = 60 * time.Second
	}
	if o.LongPollWait <= 0 {
		o.LongPollWait = 25 * time.Second
	}
	if o.LongPollWait > o.LongPollMax {
		o.LongPollWait = o.LongPollMax
	}
	if o.PollPage <= 0 {
		o.PollPage = 100
	}
	if o.WSReadLimit <= 0 {
		o.WSReadLimit = 64 << 10
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = 10 * time.Second
	}
	s := &Server{eng: o.Engine, auth: o.Auth, log: o.Logger, o: o, mux: http.NewServeMux(), wheel: newWheel(o.Heartbeat), pace: newPacer(o.WriteDelay)}
	s.routes()
	return s
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("POST /v1/publish", s.handlePublish)
	m.HandleFunc("POST /v1/publish/batch", s.handlePublishBatch)

	m.HandleFunc("GET /v1/inbox/unread", s.handleUnread)
	m.HandleFunc("GET /v1/inbox", s.handleInbox)
	m.HandleFunc("POST /v1/inbox/read", s.handleRead)
	m.HandleFunc("DELETE /v1/inbox/{id}", s.handleDelete)

	m.HandleFunc("GET /v1/sse", s.handleSSE)
	m.HandleFunc("GET /v1/ws", s.handleWS)
	m.HandleFunc("GET /v1/poll", s.handlePoll)
	m.HandleFunc("GET /v1/longpoll", s.handleLongPoll)
	m.HandleFunc("GET /v1/iframe", s.handleIframe)

	m.HandleFunc("GET /healthz", s.handleHealth)
	m.HandleFunc("GET /readyz", s.handleReady)
	m.HandleFunc("GET /v1/stats", s.handleStats)
	m.Handle("GET /metrics", s.metricsHandler())

	m.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, reddot.Errorf(reddot.ENOTFOUND, "no endpoint %s %s", r.Method, r.URL.Path))
	})
	if s.o.Mount != nil {
		s.o.Mount(m)
	}
}

// ServeHTTP applies CORS and routes the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if origin := r.Header.Get("Origin"); origin != "" && s.originAllowed(origin) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Expose-Headers", "ETag, Retry-After, Reddot-Cursor")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID, If-None-Match")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// Detaches reports whether a request is one whose connection this server
// takes over from net/http (WebSocket, SSE and iframe streams), for a
// listener that serves such requests without net/http's per-connection
// state (internal/front). The handlers drop the hijacked buffers before
// they return. MQTT over WebSocket (/mqtt) is not one: its library may keep
// the hijacked write buffer.
func Detaches(method, path string) bool {
	return method == http.MethodGet && (path == "/v1/ws" || path == "/v1/sse" || path == "/v1/iframe")
}

func (s *Server) originAllowed(origin string) bool {
	for _, o := range s.o.AllowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

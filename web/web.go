// Package web serves the browser SDK and the demo site, embedded so the
// binary needs no files and no build step.
package web

import (
	"embed"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/auth"
	"github.com/reddot-dev/reddot/engine"
)

//go:embed demo sdk/*.js
var files embed.FS

// MountSDK serves /reddot.js.
func MountSDK(mux *http.ServeMux) {
	mux.HandleFunc("GET /reddot.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		http.ServeFileFS(w, r, files, "sdk/reddot.js")
	})
}

// DemoOptions configure the demo routes.
type DemoOptions struct {
	Engine *engine.Engine
	Secret []byte // HS256 secret for demo tokens
}

// MountDemo serves the demo page at / and its demo-only helpers:
// GET /demo/token?user=ID mints a token, POST /demo/publish publishes
// without an API key. Never enable it on a public deployment.
func MountDemo(mux *http.ServeMux, o DemoOptions) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, files, "demo/index.html")
	})
	mux.HandleFunc("GET /demo/", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, files, r.URL.Path[1:])
	})
	mux.HandleFunc("GET /demo/token", func(w http.ResponseWriter, r *http.Request) {
		user := r.URL.Query().Get("user")
		if user == "" {
			user = "42"
		}
		tok, err := auth.Mint(o.Secret, auth.Claims{User: user, Topics: []string{"*"}, Publish: []string{"demo*"}, TTL: 24 * time.Hour}, time.Now())
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"token": tok, "user": user})
	})
	mux.HandleFunc("POST /demo/publish", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			writeErr(w, reddot.Errorf(reddot.EINVALID, "cannot read body"))
			return
		}
		msg, err := reddot.DecodeMessage(body, reddot.Limits{})
		if err != nil {
			writeErr(w, err)
			return
		}
		res, err := o.Engine.Publish(r.Context(), []reddot.Message{msg})
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ids": res[0].IDs})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	if reddot.ErrorCode(err) == reddot.EINTERNAL {
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": reddot.ErrorCode(err), "message": reddot.ErrorMessage(err)}})
}

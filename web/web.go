// Package web serves the browser SDK and the demo site, embedded so the
// binary needs no files and no build step.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"path"
	"time"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/auth"
	"github.com/reddot-dev/reddot/engine"
)

//go:embed demo sdk/*.js
var files embed.FS

// asset is one embedded file served with a content ETag, so browsers
// revalidate cheaply instead of trusting a stale copy.
type asset struct {
	name string
	body []byte
	etag string
}

func mustAsset(name string) asset {
	b, err := files.ReadFile(name)
	if err != nil {
		panic("web: missing embedded file " + name)
	}
	sum := sha256.Sum256(b)
	return asset{name: name, body: b, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
}

func (a asset) serve(w http.ResponseWriter, r *http.Request, cache string) {
	w.Header().Set("Cache-Control", cache)
	w.Header().Set("ETag", a.etag)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, path.Base(a.name), time.Time{}, bytes.NewReader(a.body))
}

// MountSDK serves the browser SDK: /reddot.js and the optional MQTT
// transport /reddot-mqtt.js. Both allow cross-origin module loads.
func MountSDK(mux *http.ServeMux) {
	for route, name := range map[string]string{"/reddot.js": "sdk/reddot.js", "/reddot-mqtt.js": "sdk/reddot-mqtt.js"} {
		a := mustAsset(name)
		mux.HandleFunc("GET "+route, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Access-Control-Allow-Origin", "*")
			a.serve(w, r, "public, max-age=300")
		})
	}
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
	index := mustAsset("demo/index.html")
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		index.serve(w, r, "no-cache")
	})
	mux.HandleFunc("GET /demo/{file}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, files, "demo/"+r.PathValue("file"))
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
		w.Header().Set("Cache-Control", "no-store")
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
	switch reddot.ErrorCode(err) {
	case reddot.EINTERNAL:
		status = http.StatusInternalServerError
	case reddot.EFORBIDDEN:
		status = http.StatusForbidden
	case reddot.EUNAVAILABLE:
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": reddot.ErrorCode(err), "message": reddot.ErrorMessage(err)}})
}

package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/reddot-dev/reddot"
)

func itoa(i int) string { return strconv.Itoa(i) }

// handleUnread answers the red-dot counts with an ETag, so a client polling
// every second gets 304 with no body while nothing changed.
func (s *Server) handleUnread(w http.ResponseWriter, r *http.Request) {
	p, err := s.user(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.eng.Unread(r.Context(), p.User)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, _ := json.Marshal(c.Normalize())
	w.Header().Set("Cache-Control", "private, no-cache")
	writeTagged(w, r, body)
}

// writeTagged writes a JSON body with a strong ETag, or 304 when the
// client already holds it.
func writeTagged(w http.ResponseWriter, r *http.Request, body []byte) {
	sum := sha256.Sum256(body)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
	w.Header().Set("ETag", etag)
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatch(match, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n'))
}

func etagMatch(header, etag string) bool {
	for _, part := range splitList(header) {
		if part == "*" || part == etag || part == "W/"+etag {
			return true
		}
	}
	return false
}

type inboxResponse struct {
	Items []reddot.Notification `json:"items"`
	Next  string                `json:"next"`
}

func (s *Server) handleInbox(w http.ResponseWriter, r *http.Request) {
	p, err := s.user(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	iq := reddot.InboxQuery{Before: q.Get("before"), Category: q.Get("category"), Status: q.Get("status")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 100 {
			s.writeError(w, r, reddot.Errorf(reddot.EINVALID, "limit must be 1-100"))
			return
		}
		iq.Limit = n
	}
	switch iq.Status {
	case "", "all", "read", "unread":
	default:
		s.writeError(w, r, reddot.Errorf(reddot.EINVALID, "status must be unread, read or all"))
		return
	}
	items, next, err := s.eng.Inbox(r.Context(), p.User, iq)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if items == nil {
		items = []reddot.Notification{}
	}
	writeJSON(w, http.StatusOK, inboxResponse{Items: items, Next: next})
}

func (s *Server) handleRead(w http.ResponseWriter, r *http.Request) {
	p, err := s.user(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := decodeReadRequest(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.eng.MarkRead(r.Context(), p.User, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c.Normalize())
}

func decodeReadRequest(body []byte) (reddot.ReadRequest, error) {
	var req reddot.ReadRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return req, reddot.Errorf(reddot.EINVALID, "invalid JSON body: want {\"ids\":[…]}, {\"all\":true} or {\"category\":\"c\"}")
	}
	return req, checkReadRequest(req)
}

func checkReadRequest(req reddot.ReadRequest) error {
	n := 0
	if len(req.IDs) > 0 {
		n++
	}
	if req.All {
		n++
	}
	if req.Category != "" {
		n++
	}
	if n != 1 {
		return reddot.Errorf(reddot.EINVALID, "give exactly one of ids, all or category")
	}
	if len(req.IDs) > 1000 {
		return reddot.Errorf(reddot.ETOOLARGE, "at most 1000 ids per request")
	}
	return nil
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	p, err := s.user(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.eng.Delete(r.Context(), p.User, r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

package httpapi

import (
	"net/http"
	"strings"

	"github.com/reddot-dev/reddot"
)

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// subscriber authenticates a subscriber from the Authorization header or ?token=.
func (s *Server) subscriber(r *http.Request) (*reddot.Principal, error) {
	tok := bearer(r)
	if tok == "" {
		tok = r.URL.Query().Get("token")
	}
	return s.auth.Subscriber(r.Context(), tok)
}

// user authenticates a subscriber that must have a user (inbox endpoints).
func (s *Server) user(r *http.Request) (*reddot.Principal, error) {
	p, err := s.subscriber(r)
	if err != nil {
		return nil, err
	}
	if p.Anonymous() {
		return nil, reddot.Errorf(reddot.EUNAUTHORIZED, "the inbox needs a subscriber token")
	}
	return p, nil
}

// publisher checks the API key.
func (s *Server) publisher(r *http.Request) error {
	key := bearer(r)
	if key == "" {
		return reddot.Errorf(reddot.EUNAUTHORIZED, "publishing needs an API key: Authorization: Bearer <key>")
	}
	if !s.auth.Publisher(r.Context(), key) {
		return reddot.Errorf(reddot.EUNAUTHORIZED, "invalid API key")
	}
	return nil
}

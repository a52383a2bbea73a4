package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/reddot-dev/reddot"
)

var statusByCode = map[string]int{
	reddot.EINVALID:      http.StatusBadRequest,
	reddot.EUNAUTHORIZED: http.StatusUnauthorized,
	reddot.EFORBIDDEN:    http.StatusForbidden,
	reddot.ENOTFOUND:     http.StatusNotFound,
	reddot.ECONFLICT:     http.StatusConflict,
	reddot.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	reddot.ERATELIMITED:  http.StatusTooManyRequests,
	reddot.EGONE:         http.StatusGone,
	reddot.EUNAVAILABLE:  http.StatusServiceUnavailable,
	reddot.EINTERNAL:     http.StatusInternalServerError,
}

// ErrorStatus maps a domain error to its HTTP status.
func ErrorStatus(err error) int {
	if s, ok := statusByCode[reddot.ErrorCode(err)]; ok {
		return s
	}
	var e *reddot.Error
	if errors.As(err, &e) {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError answers with the contract's error body; internal details go to the log only.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := reddot.ErrorCode(err)
	status := ErrorStatus(err)
	if status >= 500 && code == reddot.EINTERNAL {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		s.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "code", code, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="reddot"`)
	}
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: reddot.ErrorMessage(err)}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

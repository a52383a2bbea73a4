package httpapi

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"

	"github.com/reddot-dev/reddot"
)

type publishResponse struct {
	IDs []string `json:"ids"`
}

type batchResponse struct {
	IDs     []string          `json:"ids"`
	Results []publishResponse `json:"results"`
}

// readBody reads at most MaxBodyBytes; past that it is ETOOLARGE.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.o.MaxBodyBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, reddot.Errorf(reddot.ETOOLARGE, "body is larger than %d bytes", s.o.MaxBodyBytes)
	} else if err != nil {
		return nil, reddot.Errorf(reddot.EINVALID, "could not read body: %v", err)
	}
	return body, nil
}

func (s *Server) handlePublish(w http.ResponseWriter, r *http.Request) {
	if err := s.publisher(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	msg, err := reddot.DecodeMessage(body, s.o.Limits)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.eng.Publish(r.Context(), []reddot.Message{msg})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, publishResponse{IDs: res[0].IDs})
}

// handlePublishBatch takes NDJSON. Every line is validated before anything
// is stored, so a bad line stores nothing.
func (s *Server) handlePublishBatch(w http.ResponseWriter, r *http.Request) {
	if err := s.publisher(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var msgs []reddot.Message
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), len(body)+1)
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		if len(msgs) == s.o.MaxBatch {
			s.writeError(w, r, reddot.Errorf(reddot.ETOOLARGE, "more than %d messages in one batch", s.o.MaxBatch))
			return
		}
		m, err := reddot.DecodeMessage(text, s.o.Limits)
		if err != nil {
			s.writeError(w, r, &reddot.Error{Code: reddot.ErrorCode(err), Message: "line " + itoa(line) + ": " + reddot.ErrorMessage(err)})
			return
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		s.writeError(w, r, reddot.Errorf(reddot.EINVALID, "empty batch: send one JSON object per line"))
		return
	}
	res, err := s.eng.Publish(r.Context(), msgs)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := batchResponse{IDs: []string{}, Results: make([]publishResponse, len(res))}
	for i, p := range res {
		out.IDs = append(out.IDs, p.IDs...)
		out.Results[i] = publishResponse{IDs: p.IDs}
	}
	writeJSON(w, http.StatusOK, out)
}

package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/simplekv/simplekv/engine"
	"github.com/simplekv/simplekv/replica"
)

// Store is what the HTTP layer needs of a node; *replica.Node is one.
type Store interface {
	Put(key, value []byte) error
	PutWithTTL(key, value []byte, ttl time.Duration) error
	Delete(key []byte) error
	Write(ops []replica.Op) (*replica.Result, error)
	Get(key []byte, c replica.Consistency) ([]byte, error)
	Join(id, raftAddr, api string) error
	Status() (replica.Status, error)
}

// maxBody bounds a request body: the largest value plus room for a
// batch's encoding.
const maxBody = engine.DefaultMaxValueSize + 1<<20

// Server serves a Store over HTTP (the API in the package doc).
type Server struct {
	store    Store
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New returns a server of store; its metrics (and collectors, such
// as the node's) go to a registry of its own.
func New(store Store, collectors ...prometheus.Collector) *Server {
	s := &Server{store: store, registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "simplekvd_requests_total",
			Help: "HTTP requests by route and status code."}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "simplekvd_request_seconds",
			Help: "HTTP request latency by route.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, []string{"route"}),
	}
	s.registry.MustRegister(s.requests, s.latency)
	s.registry.MustRegister(collectors...)
	return s
}

// Handler is the server's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern string, h func(w http.ResponseWriter, r *http.Request) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
			if err := h(rec, r); err != nil {
				s.writeError(rec, r, err)
			}
			s.requests.WithLabelValues(pattern, fmt.Sprint(rec.code)).Inc()
			s.latency.WithLabelValues(pattern).Observe(time.Since(start).Seconds())
		})
	}
	route("PUT /kv/{key}", s.put)
	route("GET /kv/{key}", s.get)
	route("DELETE /kv/{key}", s.delete)
	route("POST /batch", s.batch)
	route("POST /join", s.join)
	route("GET /status", s.status)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	return mux
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// errBadRequest marks errors of the request itself (400).
var errBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

// key is the request's {key}: the path segment, unescaped by the mux.
func key(r *http.Request) []byte { return []byte(r.PathValue("key")) }

func (s *Server) put(w http.ResponseWriter, r *http.Request) error {
	var ttl time.Duration
	if q := r.URL.Query().Get("ttl"); q != "" {
		d, err := time.ParseDuration(q)
		if err != nil || d <= 0 {
			return badRequest("ttl %q: want a positive duration such as 30s", q)
		}
		ttl = d
	}
	value, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return badRequest("reading the body: %v", err)
	}
	if ttl > 0 {
		err = s.store.PutWithTTL(key(r), value, ttl)
	} else {
		err = s.store.Put(key(r), value)
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) error {
	c, err := replica.ParseConsistency(r.URL.Query().Get("consistency"))
	if err != nil {
		return badRequest("%v", err)
	}
	v, err := s.store.Get(key(r), c)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, err = w.Write(v)
	return err
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request) error {
	if err := s.store.Delete(key(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) join(w http.ResponseWriter, r *http.Request) error {
	var req struct{ ID, Addr, API string }
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.ID == "" || req.Addr == "" {
		return badRequest(`join needs "id" and "addr"`)
	}
	if err := s.store.Join(req.ID, req.Addr, req.API); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{"joined": req.ID})
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) error {
	st, err := s.store.Status()
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("JSON body: %v", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	return json.NewEncoder(w).Encode(v)
}

// writeError answers err as JSON with its status code; a request only the
// leader can serve is redirected to it.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var nl *replica.NotLeaderError
	if errors.As(err, &nl) && nl.API != "" {
		u, perr := url.Parse(nl.API)
		if perr == nil {
			u.Path, u.RawPath, u.RawQuery = r.URL.Path, r.URL.RawPath, r.URL.RawQuery
			http.Redirect(w, r, u.String(), http.StatusTemporaryRedirect)
			return
		}
	}
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, errBadRequest), errors.Is(err, engine.ErrEmptyKey), errors.Is(err, engine.ErrKeyTooLarge),
		errors.Is(err, engine.ErrValueTooLarge), errors.Is(err, engine.ErrInvalidTTL),
		errors.Is(err, engine.ErrBatchTooLarge), errors.Is(err, replica.ErrBadCommand), errors.Is(err, replica.ErrConfig):
		code = http.StatusBadRequest
	case errors.Is(err, engine.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, replica.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress), errors.Is(err, replica.ErrClosed):
		code = http.StatusServiceUnavailable
	case errors.Is(err, replica.ErrUnknownOutcome):
		code = http.StatusGatewayTimeout
	}
	_ = writeJSON(w, code, map[string]any{"error": err.Error(), "code": code})
}

package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/simplekv/simplekv/engine"
	"github.com/simplekv/simplekv/replica"
)

// Client calls a node's API. Redirects to the leader are followed.
type Client struct {
	base string // "http://host:port"
	http *http.Client
}

// ErrRemote is matched by the error of a request the server refused; the
// message carries its status and error.
var ErrRemote = errors.New("server: request refused")

// NewClient returns a client of the API at addr ("host:port" or a URL).
func NewClient(addr string) *Client {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return &Client{base: strings.TrimSuffix(addr, "/"), http: &http.Client{Timeout: 30 * time.Second}}
}

// Join asks the cluster to add node id (raft address raftAddr, API
// address api).
func (c *Client) Join(id, raftAddr, api string) error {
	body, _ := json.Marshal(map[string]string{"id": id, "addr": raftAddr, "api": api})
	_, err := c.do("POST", "/join", body)
	return err
}

// Get reads key (engine.ErrNotFound if absent).
func (c *Client) Get(key []byte, cons replica.Consistency) ([]byte, error) {
	return c.do("GET", "/kv/"+url.PathEscape(string(key))+"?consistency="+cons.String(), nil)
}

// Write applies ops as one batch (POST /batch) and returns the result.
func (c *Client) Write(ops []replica.Op) (*replica.Result, error) {
	req := batchRequest{Encoding: "base64"}
	enc := base64.StdEncoding.EncodeToString
	now := time.Now()
	for _, op := range ops {
		o := batchOp{Key: enc(op.Key), Value: enc(op.Value)}
		switch op.Kind {
		case replica.OpPut:
			o.Op = "put"
		case replica.OpPutExpiring:
			o.Op = "put"
			ttl := op.Expires.Sub(now)
			if ttl <= 0 {
				o = batchOp{Op: "delete", Key: o.Key} // expired already
			} else {
				o.TTL = ttl.String()
			}
		case replica.OpDelete:
			o.Op, o.Value = "delete", ""
		case replica.OpAddIfAbsent:
			o.Op = "add"
		case replica.OpDeletePrefix:
			o.Op, o.Value = "delete_prefix", ""
		default:
			return nil, fmt.Errorf("%w: op kind %d has no API form", replica.ErrBadCommand, op.Kind)
		}
		req.Ops = append(req.Ops, o)
	}
	body, _ := json.Marshal(req)
	out, err := c.do("POST", "/batch", body)
	if err != nil {
		return nil, err
	}
	var resp struct{ Existed []bool }
	if err := json.Unmarshal(out, &resp); err != nil {
		return nil, fmt.Errorf("server: batch response: %w", err)
	}
	res := &replica.Result{Existed: resp.Existed}
	if res.Existed == nil {
		res.Existed = make([]bool, len(ops))
	}
	return res, nil
}

// do sends one request and returns the body of a 2xx answer.
func (c *Client) do(method, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("server: %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 == 2 {
		return out, nil
	}
	if resp.StatusCode == http.StatusNotFound && method == "GET" {
		return nil, engine.ErrNotFound
	}
	var e struct{ Error string }
	_ = json.Unmarshal(out, &e)
	return nil, fmt.Errorf("%w: %s %s: %s: %s", ErrRemote, method, path, resp.Status, e.Error)
}

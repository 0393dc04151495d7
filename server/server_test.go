package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/engine"
	"github.com/simplekv/simplekv/replica"
)

// oneNode is a one-node cluster behind an httptest server.
func oneNode(t *testing.T) (*httptest.Server, *replica.Node) {
	t.Helper()
	n, err := replica.Open(replica.Config{ID: "n1", Dir: filepath.Join(t.TempDir(), "n1"), RaftAddr: "127.0.0.1:0",
		Bootstrap: true, LogOutput: io.Discard})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	_, err = n.WaitLeader(10 * time.Second)
	require.NoError(t, err)
	srv := httptest.NewServer(New(n, NodeCollector(n)).Handler())
	t.Cleanup(srv.Close)
	return srv, n
}

func do(t *testing.T, method, u, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// requireJSONError checks the one error shape: {"error": ..., "code": code}.
func requireJSONError(t *testing.T, code int, gotCode int, body string) {
	t.Helper()
	require.Equal(t, code, gotCode, body)
	var e struct {
		Error string
		Code  int
	}
	require.NoError(t, json.Unmarshal([]byte(body), &e))
	require.Equal(t, code, e.Code)
	require.NotEmpty(t, e.Error)
}

func TestPutGetDeleteAnyKey(t *testing.T) {
	srv, _ := oneNode(t)
	for _, key := range []string{"plain", "a/b", "sp ace", "\x00\xff?#%", "ünï"} {
		u := srv.URL + "/kv/" + url.PathEscape(key)
		code, body := do(t, "PUT", u, "value of "+key)
		require.Equal(t, http.StatusNoContent, code, body)
		for _, c := range []string{"", "?consistency=linearizable", "?consistency=stale"} {
			code, body = do(t, "GET", u+c, "")
			require.Equal(t, http.StatusOK, code)
			require.Equal(t, "value of "+key, body)
		}
		code, _ = do(t, "DELETE", u, "")
		require.Equal(t, http.StatusNoContent, code)
		code, body = do(t, "GET", u, "")
		requireJSONError(t, http.StatusNotFound, code, body)
	}
}

func TestPutWithTTL(t *testing.T) {
	srv, _ := oneNode(t)
	code, _ := do(t, "PUT", srv.URL+"/kv/t?ttl=150ms", "v")
	require.Equal(t, http.StatusNoContent, code)
	code, _ = do(t, "GET", srv.URL+"/kv/t", "")
	require.Equal(t, http.StatusOK, code)
	require.Eventually(t, func() bool {
		code, _ := do(t, "GET", srv.URL+"/kv/t", "")
		return code == http.StatusNotFound
	}, 5*time.Second, 20*time.Millisecond)
}

func TestBadRequestsChangeNothing(t *testing.T) {
	srv, n := oneNode(t)
	before := n.Applied()
	for _, tc := range []struct{ method, path, body string }{
		{"PUT", "/kv/k?ttl=soon", "v"},
		{"PUT", "/kv/k?ttl=-1s", "v"},
		{"PUT", "/kv/" + strings.Repeat("k", 70<<10), "v"},
		{"GET", "/kv/k?consistency=eventual", ""},
		{"POST", "/batch", `{"ops":[{"op":"put","key":"a","value":"1"},{"op":"bogus","key":"b"}]}`},
		{"POST", "/batch", `{"ops":[{"op":"put","key":"a","value":"1"},{"op":"put","key":""}]}`},
		{"POST", "/batch", `{"ops":[{"op":"delete","key":"a","ttl":"1s"}]}`},
		{"POST", "/batch", `{"ops":[{"op":"put","key":"!!","value":"1"}],"encoding":"base64"}`},
		{"POST", "/batch", `{"ops":[]}`},
		{"POST", "/batch", `not json`},
		{"POST", "/join", `{"id":"x"}`},
		{"POST", "/join", `{"id":"x","addr":"127.0.0.1:1","extra":1}`},
	} {
		code, body := do(t, tc.method, srv.URL+tc.path, tc.body)
		requireJSONError(t, http.StatusBadRequest, code, body)
	}
	require.Equal(t, before, n.Applied(), "a bad request was applied")
	code, _ := do(t, "GET", srv.URL+"/kv/a?consistency=stale", "")
	require.Equal(t, http.StatusNotFound, code)
}

func TestBatch(t *testing.T) {
	srv, _ := oneNode(t)
	code, body := do(t, "POST", srv.URL+"/batch",
		`{"ops":[{"op":"put","key":"a","value":"1"},{"op":"put","key":"b","value":"2","ttl":"1h"},{"op":"add","key":"a","value":"x"},{"op":"add","key":"c","value":"3"}]}`)
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"applied":4,"existed":[false,false,true,false]}`, body)
	code, body = do(t, "POST", srv.URL+"/batch", `{"ops":[{"op":"delete","key":"YQ=="},{"op":"put","key":"AP8=","value":"/w=="}],"encoding":"base64"}`)
	require.Equal(t, http.StatusOK, code, body)
	for key, want := range map[string]string{"a": "", "b": "2", "c": "3", "\x00\xff": "\xff"} {
		code, body := do(t, "GET", srv.URL+"/kv/"+url.PathEscape(key), "")
		if want == "" {
			require.Equal(t, http.StatusNotFound, code, key)
			continue
		}
		require.Equal(t, http.StatusOK, code, key)
		require.Equal(t, want, body)
	}

	// delete_prefix: every key under "u/", with the puts before it in the
	// batch; the put after it stays.
	code, body = do(t, "POST", srv.URL+"/batch",
		`{"ops":[{"op":"put","key":"u/1","value":"1"},{"op":"put","key":"u/2","value":"2"},{"op":"put","key":"u","value":"3"}]}`)
	require.Equal(t, http.StatusOK, code, body)
	code, body = do(t, "POST", srv.URL+"/batch",
		`{"ops":[{"op":"put","key":"u/3","value":"3"},{"op":"delete_prefix","key":"u/"},{"op":"put","key":"u/4","value":"4"}]}`)
	require.Equal(t, http.StatusOK, code, body)
	for key, want := range map[string]int{"u/1": 404, "u/2": 404, "u/3": 404, "u/4": 200, "u": 200, "b": 200} {
		code, _ := do(t, "GET", srv.URL+"/kv/"+url.PathEscape(key), "")
		require.Equal(t, want, code, key)
	}
	code, body = do(t, "POST", srv.URL+"/batch", `{"ops":[{"op":"delete_prefix","key":""}]}`)
	require.Equal(t, http.StatusBadRequest, code, body)
}

func TestStatusAndMetrics(t *testing.T) {
	srv, _ := oneNode(t)
	code, _ := do(t, "PUT", srv.URL+"/kv/a", "1")
	require.Equal(t, http.StatusNoContent, code)
	code, body := do(t, "GET", srv.URL+"/status", "")
	require.Equal(t, http.StatusOK, code)
	var st replica.Status
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	require.Equal(t, "Leader", st.State)
	require.Equal(t, "n1", st.LeaderID)
	require.Len(t, st.Peers, 1)
	require.GreaterOrEqual(t, st.CommitIndex, st.AppliedIndex)
	require.Positive(t, st.AppliedIndex)
	code, body = do(t, "GET", srv.URL+"/metrics", "")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "simplekvd_is_leader 1")
	require.Contains(t, body, `simplekvd_requests_total{code="204",route="PUT /kv/{key}"} 1`)
}

// notLeader is a Store whose every leader-only call fails as a follower's.
type notLeader struct {
	*replica.Node // nil: any other call panics
	err           error
}

func (s notLeader) Put([]byte, []byte) error                       { return s.err }
func (s notLeader) PutWithTTL([]byte, []byte, time.Duration) error { return s.err }
func (s notLeader) Get(_ []byte, c replica.Consistency) ([]byte, error) {
	if c == replica.Stale {
		return []byte("local"), nil
	}
	return nil, s.err
}

func TestFollowerRedirectsToLeader(t *testing.T) {
	srv := httptest.NewServer(New(notLeader{err: &replica.NotLeaderError{LeaderID: "n1",
		LeaderAddr: "127.0.0.1:7001", API: "http://127.0.0.1:8001"}}).Handler())
	defer srv.Close()
	c := http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(mustRequest(t, "PUT", srv.URL+"/kv/a%2Fb?ttl=1s", "v"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)
	require.Equal(t, "http://127.0.0.1:8001/kv/a%2Fb?ttl=1s", resp.Header.Get("Location"))
	code, body := do(t, "GET", srv.URL+"/kv/a?consistency=stale", "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "local", body)

	// No leader known: 503.
	srv2 := httptest.NewServer(New(notLeader{err: &replica.NotLeaderError{}}).Handler())
	defer srv2.Close()
	code, body = do(t, "PUT", srv2.URL+"/kv/a", "v")
	requireJSONError(t, http.StatusServiceUnavailable, code, body)
}

func mustRequest(t *testing.T, method, u, body string) *http.Request {
	req, err := http.NewRequest(method, u, bytes.NewReader([]byte(body)))
	require.NoError(t, err)
	return req
}

func TestClient(t *testing.T) {
	srv, n := oneNode(t)
	c := NewClient(srv.URL)
	res, err := c.Write([]replica.Op{
		{Kind: replica.OpPut, Key: []byte("a/\x00"), Value: []byte{0xff}},
		{Kind: replica.OpAddIfAbsent, Key: []byte("a/\x00"), Value: []byte("x")},
		{Kind: replica.OpPutExpiring, Key: []byte("t"), Value: []byte("v"), Expires: time.Now().Add(time.Hour)},
		{Kind: replica.OpPutExpiring, Key: []byte("gone"), Value: []byte("v"), Expires: time.Now().Add(-time.Second)},
	})
	require.NoError(t, err)
	require.Equal(t, []bool{false, true, false, false}, res.Existed)
	v, err := c.Get([]byte("a/\x00"), replica.Linearizable)
	require.NoError(t, err)
	require.Equal(t, []byte{0xff}, v)
	_, err = c.Get([]byte("gone"), replica.Stale)
	require.ErrorIs(t, err, engine.ErrNotFound)
	v, err = n.Get([]byte("t"), replica.Stale)
	require.NoError(t, err)
	require.Equal(t, "v", string(v))
	_, err = c.Write([]replica.Op{{Kind: replica.OpDeletePrefix, Key: []byte("a/")}})
	require.NoError(t, err)
	_, err = c.Get([]byte("a/\x00"), replica.Stale)
	require.ErrorIs(t, err, engine.ErrNotFound)
	require.ErrorIs(t, c.Join("", "", ""), ErrRemote)
}

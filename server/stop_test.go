package server

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestStopCutsIdleNewConnections: a connection that never sends a
// request holds a graceful Shutdown for 5 s; Stop ends within its grace
// anyway, and a request in progress still gets its answer.
func TestStopCutsIdleNewConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	started := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		time.Sleep(100 * time.Millisecond)
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = srv.Serve(ln) }()

	silent, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer silent.Close()
	answered := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String())
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	<-started

	begin := time.Now()
	require.NoError(t, Stop(srv, 500*time.Millisecond))
	require.Less(t, time.Since(begin), 3*time.Second)
	require.Equal(t, http.StatusNoContent, <-answered)
}

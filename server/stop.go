package server

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Stop shuts srv down: it stops accepting, lets the requests in progress
// finish for up to grace, then closes whatever is left. A connection that
// has not sent a request counts for net/http as in progress for its first
// 5 seconds (a client's spare dial, say), so a graceful Shutdown alone can
// take that long or time out: Stop cuts such connections off rather than
// fail. The error is Close's, not the timeout.
func Stop(srv *http.Server, grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	return err
}

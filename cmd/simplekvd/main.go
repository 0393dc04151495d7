package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/simplekv/simplekv/replica"
	"github.com/simplekv/simplekv/server"
)

// options are simplekvd's flags.
type options struct {
	id, data, raftAddr, httpAddr, join string
	bootstrap                          bool
	logLevel                           string
}

func (o *options) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.id, "id", "", "this node's id in the cluster (required; keep it across restarts)")
	fs.StringVar(&o.data, "data", "", "data directory (required)")
	fs.StringVar(&o.raftAddr, "raft-addr", "127.0.0.1:7000", "raft's listen address, an IP:port other nodes can dial")
	fs.StringVar(&o.httpAddr, "http-addr", "127.0.0.1:8000", "the HTTP API's listen address, an IP:port clients can dial")
	fs.BoolVar(&o.bootstrap, "bootstrap", false, "form a new cluster of this node if it has no raft state")
	fs.StringVar(&o.join, "join", "", "HTTP address (host:port) of a member to ask to add this node")
	fs.StringVar(&o.logLevel, "log-level", "warn", "raft's log level: trace, debug, info, warn or error")
}

func (o *options) validate() error {
	switch {
	case o.id == "":
		return errors.New("-id is required")
	case o.data == "":
		return errors.New("-data is required")
	case o.bootstrap && o.join != "":
		return errors.New("-bootstrap and -join exclude each other")
	}
	return nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

// run is the whole command; it returns the exit status when ctx ends or
// the server fails.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("simplekvd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	o.addFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := o.validate(); err != nil {
		fmt.Fprintln(stderr, "simplekvd:", err)
		fs.Usage()
		return 2
	}
	if err := serve(ctx, o, stderr); err != nil {
		fmt.Fprintln(stderr, "simplekvd:", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, o options, stderr io.Writer) error {
	ln, err := net.Listen("tcp", o.httpAddr)
	if err != nil {
		return err
	}
	api := "http://" + ln.Addr().String()
	node, err := replica.Open(replica.Config{ID: o.id, Dir: o.data, RaftAddr: o.raftAddr,
		Bootstrap: o.bootstrap, LogOutput: stderr, LogLevel: o.logLevel})
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: server.New(node, server.NodeCollector(node)).Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stderr, "simplekvd: node %s: raft %s, http %s\n", o.id, node.RaftAddr(), api)

	if err := server.Announce(ctx, node, o.join, api, 30*time.Second); err != nil {
		fmt.Fprintln(stderr, "simplekvd:", err)
	}
	select {
	case <-ctx.Done():
	case err = <-served:
	}
	return errors.Join(err, server.Stop(srv, 5*time.Second), node.Close())
}

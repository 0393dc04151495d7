// Command simplekvd runs one node of a replicated simplekv cluster
// (package replica) as an HTTP server.
//
//	simplekvd -id n1 -data /var/lib/n1 -raft-addr 127.0.0.1:7001 -http-addr 127.0.0.1:8001 -bootstrap
//	simplekvd -id n2 -data /var/lib/n2 -raft-addr 127.0.0.1:7002 -http-addr 127.0.0.1:8002 -join 127.0.0.1:8001
//
// -bootstrap forms a new cluster of this node when its data directory has
// no raft state (it is ignored otherwise, so it may stay on restarts).
// -join asks a member (its HTTP address) to add this node; a follower
// passes the request on to the leader by redirect. A restarted node asks
// again, which is harmless.
//
// The HTTP API is package server's (go doc ./server).
package main

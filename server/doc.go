// Package server is the HTTP API of a replicated simplekv node (package
// replica): simplekvd serves it, and so does the simple_kv plugin in
// replicated mode when it is given an API address. It knows a node only
// through the Store interface. Client calls the API: it is how a
// plugin node forwards writes to the leader and how a node joins.
//
// # API
//
// Keys are one path segment, path-escaped (url.PathEscape), so any byte
// string is a key: /kv/a%2Fb is the key "a/b".
//
//	PUT    /kv/{key}[?ttl=30s]       the body is the value; 204 once committed
//	GET    /kv/{key}[?consistency=linearizable|stale]
//	                                 200 with the value, 404 if absent
//	DELETE /kv/{key}                 204 (absent keys too)
//	POST   /batch                    {"ops":[{"op":"put","key":"k","value":"v","ttl":"30s"},
//	                                  {"op":"delete","key":"x"}], "encoding":"base64"}
//	                                 applies every op or none; 200 {"applied":N}
//	POST   /join                     {"id":"n2","addr":"127.0.0.1:7002","api":"http://127.0.0.1:8002"}
//	GET    /status                   role, leader, term, last, commit and applied index, peers
//	GET    /metrics                  Prometheus text format
//
// A batch's keys and values are JSON strings; with "encoding":"base64"
// they are standard base64, for binary data. Ops are "put" (with an
// optional "ttl"), "delete", "add" (put unless the key exists) and
// "delete_prefix" (delete every key that starts with "key": those stored,
// and those the batch's earlier ops wrote; replica.Node.DeletePrefix).
//
// Writes and linearizable reads are served by the leader: a follower
// answers 307 Temporary Redirect to the same path on the leader (curl -L,
// and Go's client, follow it with the body), or 503 when no leader is
// known. Stale reads are served by any node from its own store. Errors
// are JSON, {"error":"...","code":N}: 400 for bad input (nothing is
// applied), 404 for an absent key, 503 without a leader or while the node
// shuts down (nothing applied), 504 when a write's outcome is unknown
// (the leader changed while it was in flight, or its store failed after
// the write was committed: read the key to learn whether it was applied).
package server

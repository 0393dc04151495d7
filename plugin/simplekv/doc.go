// Package simplekv is the simple_kv plugin: it puts the simplekv engine
// behind the application framework's kv and filter registries (packages
// plugin/kv and plugin/filter), configured by the `simple_kv:` section of
// the application's YAML.
//
//	cfg, err := simplekv.ParseConfig(yamlBytes) // unknown keys, bad values: errors naming key and line
//	m := simplekv.New(cfg)
//	err = m.Setup() // opens the directory, registers "simple_kv" in both registries
//	defer m.Stop()  // unregisters, syncs, closes, releases the directory
//
//	kv.AddValue("users", []byte("42"), []byte(`{"name":"Ada"}`))
//	v, err := kv.GetValue("users", []byte("42")) // (nil, nil) when missing
//	seen, err := filter.CheckThenAdd("tokens", tok) // atomic
//
// # Keys and buckets
//
// A bucket is a namespace: the engine key is a role byte (kv or filter),
// the bucket's length as a uvarint, the bucket and the key, so bucket
// "a,b" with key "c" never meets bucket "a" with key "b,c", and the empty
// bucket is a bucket of its own. The kv and filter roles share the store
// but not keys: a filter member is not a kv key and the reverse. A kv key
// also carries its bucket's generation (a uvarint after the bucket):
// DeleteBucket moves the bucket to the next generation in one write, which
// hides every older key at once, and deletes those keys in the background.
// WriteBatch (the kv.Batcher extension) writes several keys of one bucket
// as one engine batch: all or none, visible at once. Module.Checkpoint and
// Module.Backup copy the running store (engine.DB.Checkpoint and Backup).
//
// # Durability
//
// sync_writes: true makes every write return only once it is on stable
// storage (fsync; concurrent writers share fsyncs). With false (the
// default) writes are buffered: a process crash loses at most the last few
// milliseconds of writes (BufferSize, FlushInterval), a power loss at most
// the last sync_interval (1 s); see the engine's README section on
// durability.
//
// # Replicated
//
// A replication: section (ReplicationConfig) makes the store a member of
// a cluster replicated with hashicorp/raft (package replica): the same
// registries, the same calls, served by every member. Writes are ordered
// by the leader and return once a majority has them durably; a follower
// forwards them to the leader's HTTP API (api_addr, package server).
// CheckThenAdd is one replicated add-if-absent: of concurrent calls for
// one member on any nodes, exactly one reports false. Reads follow
// read_consistency: linearizable (the leader confirms its leadership;
// followers forward) or stale (this node's copy). Iterate reads this
// node's copy, linearizable only on the leader. DeleteBucket is one
// replicated prefix delete, ordered among the cluster's writes (a bucket
// of more than about a million keys may be seen half deleted on a node
// while it applies; every node must run a version that has it,
// replica.Node.DeletePrefix). Module.Checkpoint and
// Backup are not available (raft snapshots the store itself).
//
// # Monitoring
//
// While a module runs, its engine Stats are published as the expvar
// variable "simple_kv" and, through NewCollector, as Prometheus metrics
// named simple_kv_*.
package simplekv

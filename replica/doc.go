// Package replica replicates an engine.DB with hashicorp/raft.
//
// FSM is raft's state machine over one engine.DB: it applies each
// committed command and records the entry's index in the same db.Write,
// so after a crash the store holds exactly the entries up to the index it
// records, and entries at or below it are skipped when raft replays them.
// Snapshots are live engine backups streamed while applies go on; Restore
// rebuilds the store from one beside the old and swaps the directories.
//
// Node wires raft to its TCP transport, a file snapshot store, raftlog
// (the log and stable store) and the FSM, and offers Put, Get, Delete,
// DeletePrefix, Write and AddIfAbsent. Writes go through the leader; a follower refuses
// them with a *NotLeaderError that names the leader. The leader's
// proposer merges the commands of concurrent writers into shared raft
// entries (at most two in raft at a time), so that one round of log syncs
// carries many writes; each command is still applied and answered on its
// own. Reads are
// Linearizable (the leader confirms it still leads and waits until its
// store has applied everything committed when the read began) or Stale
// (whatever the local store holds, possibly behind the leader).
//
// Layout of a node's data directory:
//
//	<data>/raft/        raftlog: the log's segments and raft's stable store
//	<data>/snapshots/   raft's file snapshot store (engine backup streams)
//	<data>/fsm/         the replicated engine.DB
//	<data>/fsm.restore  only while a snapshot is being installed
package replica

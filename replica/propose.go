package replica

import (
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// The proposer merges the commands of concurrent writers into one raft
// entry. raft already writes all entries that queue up during one log
// sync with one StoreLogs, but it starts a new sync, and a new round of
// AppendEntries to every follower, as soon as anything is queued; with
// three nodes on one disk those syncs, not the CPU, bound the cluster.
// The proposer keeps at most maxInflight entries of its own in raft at a
// time; what arrives meanwhile waits and goes into the next entry, so
// each sync carries more writes and there are fewer syncs to wait for.
//
// Each command keeps its own outcome: the FSM decodes, checks and answers
// every command of a group on its own (GroupResponse), and applies the
// group's commands in order, so merging changes no result. A command is
// still atomic; commands of one group are applied in one engine write,
// which is more, not less.
type proposer struct {
	n     *Node
	in    chan *proposal // unbuffered: the proposer takes what waits on it
	slots chan struct{}  // one per entry in raft
	sent  chan *sentGroup
	stop  chan struct{}
	once  sync.Once
	done  sync.WaitGroup
}

// maxInflight is how many proposer entries may be in raft at once. Two
// let the leader sync one entry while the followers sync the one before.
const maxInflight = 2

// maxGroupBytes bounds a group's Data; a larger command goes alone.
const maxGroupBytes = 1 << 20

// proposal is one writer's command and where its outcome goes.
type proposal struct {
	cmd  []byte
	done chan outcome // buffered: the waiter never blocks on it
}

// outcome is a proposal's result: raft's error for its entry (not
// proposed, not committed, or of unknown fate), or else the FSM's answer
// to its command.
type outcome struct {
	raftErr error
	res     *Result
	err     error
}

// sentGroup is an entry in raft and the proposals it carries. ready is
// closed once err and resp hold the entry's outcome.
type sentGroup struct {
	props []*proposal
	ready chan struct{}
	err   error
	resp  any
}

// await records f's outcome in g. It runs in a goroutine of its own
// because raft may never answer a future whose entry was committed just
// as raft shut down (raft's FSM loop can stop with it queued, and such a
// future has no shutdown channel), and the waiter must not wait for that
// forever. Such an await stays blocked: at most maxInflight per Close.
func (g *sentGroup) await(f raft.ApplyFuture) {
	if g.err = f.Error(); g.err == nil {
		g.resp = f.Response()
	}
	close(g.ready)
}

func newProposer(n *Node) *proposer {
	p := &proposer{n: n, in: make(chan *proposal), slots: make(chan struct{}, maxInflight),
		sent: make(chan *sentGroup, maxInflight), stop: make(chan struct{})}
	p.done.Add(2)
	go p.run()
	go p.wait()
	return p
}

// close stops the proposer once raft has shut down (so every entry in
// raft has its outcome); a write still waiting to be proposed gets
// ErrClosed. Later calls do nothing.
func (p *proposer) close() {
	p.once.Do(func() { close(p.stop) })
	p.done.Wait()
}

// propose hands cmd to the proposer and waits for its outcome. Waiting to
// be taken is bounded by the node's ApplyTimeout, like raft's own queue.
func (p *proposer) propose(cmd []byte) outcome {
	pr := &proposal{cmd: cmd, done: make(chan outcome, 1)}
	timer := time.NewTimer(p.n.cfg.ApplyTimeout)
	defer timer.Stop()
	select {
	case p.in <- pr:
	case <-p.stop:
		return outcome{err: ErrClosed}
	case <-timer.C:
		return outcome{raftErr: raft.ErrEnqueueTimeout}
	}
	return <-pr.done
}

// run takes a proposal, waits for a free slot, takes every proposal that
// waits by then (up to maxGroupBytes) and proposes them as one entry.
func (p *proposer) run() {
	defer p.done.Done()
	defer close(p.sent)
	var next *proposal // taken, but it did not fit in the last group
	for {
		first := next
		next = nil
		if first == nil {
			select {
			case first = <-p.in:
			case <-p.stop:
				return
			}
		}
		select {
		case p.slots <- struct{}{}:
		case <-p.stop:
			first.done <- outcome{err: ErrClosed}
			return
		}
		props, size := []*proposal{first}, len(first.cmd)
	take:
		for size < maxGroupBytes {
			select {
			case pr := <-p.in:
				if size+len(pr.cmd) > maxGroupBytes {
					next = pr
					break take
				}
				props, size = append(props, pr), size+len(pr.cmd)
			default:
				break take
			}
		}
		data := first.cmd
		if len(props) > 1 {
			cmds := make([][]byte, len(props))
			for i, pr := range props {
				cmds[i] = pr.cmd
			}
			data = encodeGroup(cmds)
		}
		g := &sentGroup{props: props, ready: make(chan struct{})}
		go g.await(p.n.raft.Apply(data, p.n.cfg.ApplyTimeout))
		p.sent <- g
	}
}

// wait answers each entry's proposals, in the order they were proposed
// (raft commits them in that order), and frees its slot. Once the
// proposer stops (raft has shut down), an entry raft did not answer has
// an unknown outcome.
func (p *proposer) wait() {
	defer p.done.Done()
	for g := range p.sent {
		err, resp := raft.ErrRaftShutdown, any(nil)
		select {
		case <-g.ready:
			err, resp = g.err, g.resp
		case <-p.stop:
			select {
			case <-g.ready:
				err, resp = g.err, g.resp
			default:
			}
		}
		<-p.slots
		for i, pr := range g.props {
			pr.done <- outcomeOf(err, resp, i, len(g.props))
		}
	}
}

// outcomeOf is proposal i's (of n in its entry) outcome, given the entry's
// error or response.
func outcomeOf(err error, resp any, i, n int) outcome {
	if err != nil {
		return outcome{raftErr: err}
	}
	if n > 1 {
		g, ok := resp.(*GroupResponse)
		if !ok {
			if err, isErr := resp.(error); isErr {
				return outcome{err: err} // the whole entry was refused
			}
			return outcome{err: fmt.Errorf("replica: a group of %d commands answered %T", n, resp)}
		}
		if len(g.Each) != n {
			return outcome{err: fmt.Errorf("replica: a group of %d commands answered %d", n, len(g.Each))}
		}
		resp = g.Each[i]
	}
	switch r := resp.(type) {
	case *Result:
		return outcome{res: r}
	case error:
		return outcome{err: r}
	}
	return outcome{err: fmt.Errorf("replica: unexpected apply response %T", resp)}
}

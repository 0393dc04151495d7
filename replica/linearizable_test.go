package replica

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/engine"
)

// linInput is one client call on one key: a read, a put, a delete or an
// add-if-absent.
type linInput struct {
	kind  OpKind // 0: read
	key   string
	value string
}

// linOutput is what came back. unknown: a write whose outcome the client
// could not learn (its return is at the end of time).
type linOutput struct {
	value   string // read: the value ("" absent); add: "1" if it existed
	unknown bool
}

// kvModel is a register per key: the state is the key's value ("" absent).
var kvModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range h {
			k := op.Input.(linInput).key
			byKey[k] = append(byKey[k], op)
		}
		var parts [][]porcupine.Operation
		for _, p := range byKey {
			parts = append(parts, p)
		}
		return parts
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(string), input.(linInput), output.(linOutput)
		switch in.kind {
		case 0:
			return out.value == s, s
		case OpPut:
			return true, in.value
		case OpDelete:
			return true, ""
		case OpAddIfAbsent:
			existed := s != ""
			if !out.unknown && (out.value == "1") != existed {
				return false, s
			}
			if existed {
				return true, s
			}
			return true, in.value
		}
		return false, s
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		return fmt.Sprintf("%d %s %q -> %q unknown=%v", in.kind, in.key, in.value, out.value, out.unknown)
	},
}

// TestLinearizableUnderLeaderKills runs concurrent clients against a
// 3-node cluster while its leader is killed and restarted, and checks the
// history with porcupine.
func TestLinearizableUnderLeaderKills(t *testing.T) {
	c := newCluster(t, 3)
	var mu sync.Mutex // guards c.nodes against the killer
	leader := func() *Node {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range c.nodes {
			if n != nil && n.IsLeader() {
				return n
			}
		}
		return nil
	}
	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }
	stop := make(chan struct{})
	var hist []porcupine.Operation
	var hmu sync.Mutex
	var wg sync.WaitGroup
	for client := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(client), 1))
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				n := leader()
				if n == nil {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				in := linInput{key: fmt.Sprint("k", rng.IntN(3)), value: fmt.Sprintf("c%d-%d", client, seq)}
				in.kind = []OpKind{0, 0, OpPut, OpPut, OpDelete, OpAddIfAbsent}[rng.IntN(6)]
				call := now()
				out, ok := linCall(n, in)
				ret := now()
				if !ok {
					continue // failed for sure: nothing happened
				}
				if out.unknown {
					ret = math.MaxInt64
				}
				hmu.Lock()
				hist = append(hist, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
				hmu.Unlock()
			}
		}()
	}
	for round := range 3 {
		time.Sleep(400 * time.Millisecond)
		mu.Lock()
		li := -1
		for i, n := range c.nodes {
			if n != nil && n.IsLeader() {
				li = i
			}
		}
		if li >= 0 {
			t.Logf("round %d: killing leader n%d", round, li)
			c.stop(li)
		}
		mu.Unlock()
		time.Sleep(300 * time.Millisecond)
		if li >= 0 {
			mu.Lock()
			c.start(li, false)
			mu.Unlock()
		}
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	writes := 0
	for _, op := range hist {
		if op.Input.(linInput).kind != 0 && !op.Output.(linOutput).unknown {
			writes++
		}
	}
	t.Logf("%d operations, %d acknowledged writes", len(hist), writes)
	require.Greater(t, writes, 50, "too few writes to mean anything")
	res := porcupine.CheckOperationsTimeout(kvModel, hist, time.Minute)
	require.Equal(t, porcupine.Ok, res, "history is not linearizable")
}

// linCall performs in on n. ok is false when the call certainly did
// nothing (refused before it was proposed, or a failed read).
func linCall(n *Node, in linInput) (out linOutput, ok bool) {
	key := []byte(in.key)
	var err error
	switch in.kind {
	case 0:
		var v []byte
		v, err = n.Get(key, Linearizable)
		if errors.Is(err, engine.ErrNotFound) {
			return linOutput{}, true
		}
		if err != nil {
			return linOutput{}, false
		}
		return linOutput{value: string(v)}, true
	case OpPut:
		err = n.Put(key, []byte(in.value))
	case OpDelete:
		err = n.Delete(key)
	case OpAddIfAbsent:
		var existed bool
		existed, err = n.AddIfAbsent(key, []byte(in.value))
		if err == nil && existed {
			out.value = "1"
		}
	}
	switch {
	case err == nil:
		return out, true
	case errors.Is(err, ErrNotLeader), errors.Is(err, raft.ErrEnqueueTimeout):
		return out, false
	}
	return linOutput{unknown: true}, true
}

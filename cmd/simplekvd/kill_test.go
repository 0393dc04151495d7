package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/simplekv/simplekv/replica"
)

// freeAddr returns a 127.0.0.1 address no one listens on now.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// proc is one simplekvd process of the kill test.
type proc struct {
	id, raft, http string
	args           []string
	cmd            *exec.Cmd
	log            *os.File
}

// TestSIGKILLUnderLoad kills simplekvd nodes (leaders too) with SIGKILL
// while clients write, restarts them, and checks that every acknowledged
// write is on every node once they have caught up.
func TestSIGKILLUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "simplekvd")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)

	procs := make([]*proc, 3)
	for i := range procs {
		p := &proc{id: fmt.Sprint("n", i+1), raft: freeAddr(t), http: freeAddr(t)}
		p.args = []string{"-id", p.id, "-data", filepath.Join(dir, p.id), "-raft-addr", p.raft, "-http-addr", p.http}
		if i == 0 {
			p.args = append(p.args, "-bootstrap")
		} else {
			p.args = append(p.args, "-join", procs[0].http)
		}
		procs[i] = p
	}
	var pmu sync.Mutex // guards the procs' cmd
	startProc := func(p *proc) {
		f, err := os.OpenFile(filepath.Join(dir, p.id+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		require.NoError(t, err)
		p.log = f
		p.cmd = exec.Command(bin, p.args...)
		p.cmd.Stdout, p.cmd.Stderr = f, f
		require.NoError(t, p.cmd.Start())
	}
	kill := func(p *proc) {
		if p.cmd != nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
			p.cmd = nil
			p.log.Close()
		}
	}
	t.Cleanup(func() {
		pmu.Lock()
		defer pmu.Unlock()
		for _, p := range procs {
			kill(p)
		}
		if t.Failed() {
			for _, p := range procs {
				b, _ := os.ReadFile(filepath.Join(dir, p.id+".log"))
				t.Logf("%s log:\n%s", p.id, tail(string(b), 3000))
			}
		}
	})
	startProc(procs[0])
	waitStatus(t, procs[0], func(st replica.Status) bool { return st.State == "Leader" })
	startProc(procs[1])
	startProc(procs[2])
	waitStatus(t, procs[0], func(st replica.Status) bool { return len(st.Peers) == 3 })

	client := &http.Client{Timeout: 5 * time.Second}
	var amu sync.Mutex
	acked := map[string]string{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p := procs[(c+i)%3] // followers redirect to the leader
				key, val := fmt.Sprintf("c%d-%d", c, i), fmt.Sprint(i)
				req, _ := http.NewRequest("PUT", "http://"+p.http+"/kv/"+key, strings.NewReader(val))
				resp, err := client.Do(req)
				if err != nil {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusNoContent {
					amu.Lock()
					acked[key] = val
					amu.Unlock()
				} else {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for round := range 8 {
		time.Sleep(300 * time.Millisecond)
		p := procs[rng.IntN(3)]
		if round%2 == 0 { // the leader, every other round
			st := waitStatus(t, p, func(st replica.Status) bool { return st.LeaderID != "" })
			for _, q := range procs {
				if q.id == st.LeaderID {
					p = q
				}
			}
		}
		pmu.Lock()
		t.Logf("round %d: SIGKILL %s", round, p.id)
		kill(p)
		pmu.Unlock()
		time.Sleep(200 * time.Millisecond)
		pmu.Lock()
		startProc(p)
		pmu.Unlock()
		waitStatus(t, p, func(st replica.Status) bool { return st.LeaderID != "" && len(st.Peers) == 3 })
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d acknowledged writes", len(acked))
	require.Greater(t, len(acked), 100, "too few writes to mean anything")

	// Every node catches up to the leader and holds every acknowledged write.
	for _, p := range procs {
		waitStatus(t, p, func(st replica.Status) bool { return st.LeaderID != "" && len(st.Peers) == 3 })
		for key, want := range acked {
			var got string
			require.Eventually(t, func() bool {
				resp, err := client.Get("http://" + p.http + "/kv/" + key + "?consistency=stale")
				if err != nil {
					return false
				}
				defer resp.Body.Close()
				got = readAll(resp)
				return resp.StatusCode == http.StatusOK && got == want
			}, 10*time.Second, 20*time.Millisecond, "%s: %s = %q, want %q", p.id, key, got, want)
		}
	}
}

func readAll(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// waitStatus polls p's /status until ok holds (15 s at most) and returns it.
func waitStatus(t *testing.T, p *proc, ok func(replica.Status) bool) replica.Status {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var st replica.Status
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + p.http + "/status")
		if err == nil {
			last = readAll(resp)
			resp.Body.Close()
			if json.Unmarshal([]byte(last), &st) == nil && ok(st) {
				return st
			}
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: status never as wanted; last: %s", p.id, last)
	return st
}

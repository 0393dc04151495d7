// Command sessions manages login sessions with simple_kv: sessions are
// values with a TTL in the bucket "sessions"; the filter registry keeps the
// one-time login tokens already used (CheckThenAdd rejects a replay
// atomically) and the revoked session ids (Exists); a logout deletes the
// session; and a session with a short TTL expires.
//
//	go run ./examples/sessions [-config file.yaml] [-data dir]
package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/simplekv/simplekv/plugin/filter"
	"github.com/simplekv/simplekv/plugin/kv"
	"github.com/simplekv/simplekv/plugin/simplekv"
)

const (
	sessionsBucket = "sessions"    // kv: session id -> session record
	usedTokens     = "used_tokens" // filter: one-time login tokens already spent
	revoked        = "revoked"     // filter: session ids revoked by an admin
	sessionTTL     = 30 * time.Minute
)

// session is the record stored for a session id.
type session struct {
	User    string    `json:"user"`
	Created time.Time `json:"created"`
}

var (
	errReplayed     = errors.New("login token already used")
	errRevoked      = errors.New("session revoked")
	errNoSession    = errors.New("no such session (logged out or expired)")
	errUnexpectedOK = errors.New("unexpectedly accepted")
)

func main() {
	if err := mainErr(); err != nil {
		fmt.Fprintln(os.Stderr, "sessions:", err)
		os.Exit(1)
	}
}

func mainErr() error {
	configPath := flag.String("config", defaultConfigPath(), "YAML file with a simple_kv: section")
	dataDir := flag.String("data", "", "data directory, overriding the YAML path (default: a fresh temporary directory, removed at exit)")
	flag.Parse()
	dir := *dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "simplekv-sessions-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	return run(*configPath, dir, os.Stdout)
}

// defaultConfigPath finds the config.yaml next to this program whether it
// runs from the repository root (go run ./examples/sessions) or from its
// own directory (go run .).
func defaultConfigPath() string {
	fromRoot := filepath.Join("examples", "sessions", "config.yaml")
	if _, err := os.Stat(fromRoot); err == nil {
		return fromRoot
	}
	return "config.yaml"
}

// login spends a one-time login token (from an emailed link, say) and
// creates a session for user. A token can be used once: CheckThenAdd marks
// it used and reports whether it already was, atomically, so of two
// concurrent logins with one token exactly one succeeds.
func login(user, token string, ttl time.Duration) (string, error) {
	used, err := filter.CheckThenAdd(usedTokens, []byte(token))
	if err != nil {
		return "", err
	}
	if used {
		return "", errReplayed
	}
	id := rand.Text()
	rec, err := json.Marshal(session{User: user, Created: time.Now().UTC()})
	if err != nil {
		return "", err
	}
	return id, kv.AddValueWithTTL(sessionsBucket, []byte(id), rec, ttl)
}

// authenticate returns the user of session id, or an error if the session
// is revoked, logged out or expired.
func authenticate(id string) (string, error) {
	if filter.Exists(revoked, []byte(id)) {
		return "", errRevoked
	}
	rec, err := kv.GetValue(sessionsBucket, []byte(id))
	if err != nil {
		return "", err
	}
	if rec == nil { // (nil, nil): missing or expired
		return "", errNoSession
	}
	var s session
	if err := json.Unmarshal(rec, &s); err != nil {
		return "", err
	}
	return s.User, nil
}

// logout deletes the session.
func logout(id string) error { return kv.DeleteKey(sessionsBucket, []byte(id)) }

// short abbreviates a session id for printing.
func short(id string) string { return id[:8] + "…" }

// run is the whole example; it returns an error on any unexpected result.
func run(configPath, dataDir string, out io.Writer) (err error) {
	data, err := os.ReadFile(configPath)
	if err != nil {
		return err
	}
	cfg, err := simplekv.ParseConfig(data)
	if err != nil {
		return err
	}
	if !cfg.SyncWrites {
		return fmt.Errorf("%s: sessions want sync_writes: true", configPath)
	}
	fmt.Fprintf(out, "config %s: sync_writes=%v, path %s overridden by %s\n", configPath, cfg.SyncWrites, cfg.Path, dataDir)
	cfg.Path = dataDir

	m := simplekv.New(cfg)
	if err := m.Setup(); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, m.Stop()) }()
	if err := m.Start(); err != nil {
		return err
	}

	// expect checks the outcome of authenticate.
	expect := func(id, wantUser string, wantErr error) error {
		user, err := authenticate(id)
		switch {
		case wantErr == nil && err != nil:
			return fmt.Errorf("session %s: %w", short(id), err)
		case wantErr != nil && !errors.Is(err, wantErr):
			if err == nil {
				err = errUnexpectedOK
			}
			return fmt.Errorf("session %s: got %v, want %v", short(id), err, wantErr)
		case user != wantUser:
			return fmt.Errorf("session %s: user %q, want %q", short(id), user, wantUser)
		}
		return nil
	}

	// One-time login tokens, as sent in emailed login links. They are
	// random so that a rerun on the same -data directory starts afresh.
	tokAlice, tokBob, tokCarol := "alice-"+rand.Text(), "bob-"+rand.Text(), "carol-"+rand.Text()

	// Two users log in with their one-time tokens.
	alice, err := login("alice", tokAlice, sessionTTL)
	if err != nil {
		return err
	}
	bob, err := login("bob", tokBob, sessionTTL)
	if err != nil {
		return err
	}
	for _, s := range []struct{ id, user string }{{alice, "alice"}, {bob, "bob"}} {
		fmt.Fprintf(out, "login %s: session %s (TTL %v)\n", s.user, short(s.id), sessionTTL)
		if err := expect(s.id, s.user, nil); err != nil {
			return err
		}
		fmt.Fprintf(out, "authenticate %s: %s\n", short(s.id), s.user)
	}

	// Someone replays alice's login link.
	if _, err := login("mallory", tokAlice, sessionTTL); !errors.Is(err, errReplayed) {
		return fmt.Errorf("replayed login: got %v, want %v", err, errReplayed)
	}
	fmt.Fprintln(out, "login with alice's token again: replayed token rejected (CheckThenAdd reported it used)")
	if !filter.Exists(usedTokens, []byte(tokAlice)) || filter.Exists(usedTokens, []byte(tokCarol)) {
		return errors.New("used-token membership is wrong")
	}
	fmt.Fprintf(out, "filter.Exists(%q): alice's token true, carol's (unused) false\n", usedTokens)

	// An admin revokes bob's session; it stops working at once.
	if err := filter.Add(revoked, []byte(bob)); err != nil {
		return err
	}
	if err := expect(bob, "", errRevoked); err != nil {
		return err
	}
	fmt.Fprintf(out, "revoke bob: session %s rejected (filter.Exists(%q) is true)\n", short(bob), revoked)

	// Alice logs out: the session is deleted.
	if err := logout(alice); err != nil {
		return err
	}
	if err := expect(alice, "", errNoSession); err != nil {
		return err
	}
	fmt.Fprintf(out, "logout alice: session %s deleted, GetValue returns nil, nil\n", short(alice))

	// A session with a short TTL (a "remember me" left unchecked, say)
	// works until it expires.
	const shortTTL = 200 * time.Millisecond
	carol, err := login("carol", tokCarol, shortTTL)
	if err != nil {
		return err
	}
	if err := expect(carol, "carol", nil); err != nil {
		return err
	}
	fmt.Fprintf(out, "login carol: session %s with TTL %v, authenticate: carol\n", short(carol), shortTTL)
	time.Sleep(shortTTL + 100*time.Millisecond)
	if err := expect(carol, "", errNoSession); err != nil {
		return err
	}
	fmt.Fprintf(out, "after %v: carol's session expired\n", shortTTL+100*time.Millisecond)

	// What is stored: not alice's (logged out) nor carol's (expired);
	// bob's record is still there, but revoked.
	seen := map[string]bool{}
	if err := kv.Iterate(sessionsBucket, func(k, _ []byte) bool { seen[string(k)] = true; return true }); err != nil {
		return err
	}
	if seen[alice] || seen[carol] || !seen[bob] {
		return fmt.Errorf("stored sessions: alice %v, bob %v, carol %v; want only bob's", seen[alice], seen[bob], seen[carol])
	}
	fmt.Fprintf(out, "Iterate(%q): %d stored (bob's, revoked; alice's and carol's gone)\n", sessionsBucket, len(seen))
	return nil
}

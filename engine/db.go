package engine

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/simplekv/simplekv/datafile"
	"github.com/simplekv/simplekv/internal/cache"
	"github.com/simplekv/simplekv/internal/vfs"
	"github.com/simplekv/simplekv/keydir"
)

// Names inside a DB directory.
const (
	lockFile     = "LOCK"
	walDir       = "wal"
	lastStateDir = "last_state"
)

// DB is an open simplekv database. It is safe for concurrent use.
type DB struct {
	dir  string
	opts Options
	fs   vfs.FS
	log  *slog.Logger
	lock io.Closer

	kd       *keydir.Keydir
	cache    *cache.Cache
	compress compressGate
	files    fileTable
	fds      fdCache
	// hints counts the background writers of sealed log files' hints;
	// Close waits for them.
	hints sync.WaitGroup
	// replayed lists the log files the recovery replayed (set by Open).
	replayed []uint32
	// inlineHints: see hintsInline.
	inlineHints bool

	// wmu guards the write path: the active writer, sequence numbers and
	// group-commit state. syncCond (on wmu) wakes writers waiting for a
	// sync.
	wmu       sync.Mutex
	syncCond  *sync.Cond
	w         *datafile.Writer
	seq       uint64
	appended  uint64      // bytes of records appended since Open (log position)
	synced    uint64      // log position known durable
	syncing   bool        // a group-commit leader is in fsync
	waiters   int         // writers waiting in waitDurableLocked
	lastBatch int         // waiters covered by the last group commit
	padWarned bool        // a failed preallocation has been logged
	writeErr  error       // sticky: set after a failed write or sync
	failed    atomic.Bool // writeErr != nil, readable without wmu
	nextID    uint64      // next file id to hand out (log files and merge outputs)
	// activeFile is the table entry of the active writer's file.
	activeFile *dataFile
	// pending holds synced-mode writes appended but not yet durable, in
	// append order; whoever advances synced applies them to the keydir in
	// that order, so a Put and a later Delete of one key can never land in
	// the keydir the other way round.
	pending []pendingOp

	active atomic.Pointer[datafile.Writer] // for lock-free reads of flushed data
	closed atomic.Bool

	bgStop chan struct{}
	bgDone chan struct{}

	// mergeMu makes merges run one at a time; it is held for a whole merge
	// (never while holding wmu). compStop is closed by Close to stop the
	// worker and any merge in progress.
	mergeMu sync.Mutex
	// fileDelMu is held by a checkpoint or backup from its cut until it
	// has copied its files, and by a merge while it deletes its inputs:
	// no file of a cut disappears before it is copied. A cut takes it
	// before wmu; nothing takes it while holding wmu.
	fileDelMu sync.Mutex
	mergeErr  error // sticky, under mergeMu: a committed merge could not finish
	compStop  chan struct{}
	compDone  chan struct{}

	// undo keeps running Scans from seeing batches applied after they
	// started.
	undo scanUndo

	st stats
}

// Open opens (creating if needed) the database in dir. Only one DB may have
// a directory open at a time: a second Open, from this process or another,
// fails with ErrLocked. Open recovers the keydir from the data files; see the
// package documentation for how torn and corrupt files are treated.
func Open(dir string, opts Options) (*DB, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	db := &DB{
		dir:   dir,
		opts:  opts,
		fs:    opts.FS,
		log:   opts.Logger.With("db", dir),
		kd:    keydir.New(),
		cache: cache.New(opts.CacheSize),

		inlineHints: hintsInline,
	}
	db.syncCond = sync.NewCond(&db.wmu)
	db.files.init(db.kd.Barrier)
	db.fds.max = opts.MaxOpenFiles
	if err := db.prepareDir(); err != nil {
		return nil, err
	}
	lock, err := db.fs.Lock(filepath.Join(dir, lockFile))
	if err != nil {
		if errors.Is(err, vfs.ErrLocked) {
			return nil, fmt.Errorf("%w: %s is already open (LOCK held)", ErrLocked, dir)
		}
		return nil, fmt.Errorf("simplekv: lock %s: %w", dir, err)
	}
	db.lock = lock
	start := time.Now()
	nextID, err := db.recover()
	if err == nil {
		db.nextID = uint64(nextID)
		var id uint32
		if id, err = db.newIDLocked(); err == nil {
			err = db.startWriter(id)
		}
	}
	if err != nil {
		_ = db.files.closeAll()
		_ = lock.Close()
		return nil, err
	}
	db.st.recoveryDuration = time.Since(start)
	// The log files Open replayed are sealed now (writes go to a new
	// file): hinted, the next Open does not replay them again.
	db.hintInBackground(db.replayed...)
	db.replayed = nil
	db.log.Info("simplekv: opened", "keys", db.kd.Len(), "files", db.files.len(),
		"recovery", db.st.recoveryDuration, "torn_bytes", db.st.tornBytes)
	if !opts.SyncWrites {
		db.bgStop, db.bgDone = make(chan struct{}), make(chan struct{})
		go db.background()
	}
	db.compStop, db.compDone = make(chan struct{}), make(chan struct{})
	if opts.DisableAutoCompaction {
		close(db.compDone)
	} else {
		go db.compactionWorker()
	}
	return db, nil
}

// prepareDir creates dir, wal/ and last_state/ as needed and makes their
// directory entries durable. Errors name the path and the cause (for
// example a permission problem, or a file in the way).
//
// It syncs dir, its subdirectories and every ancestor of dir on every Open,
// not only the levels it creates: an earlier Open may have created them
// and then failed before its syncs, leaving entries a power cut would take
// with it. Directory fsyncs are cheap and Open is rare.
func (db *DB) prepareDir() error {
	subs := []string{filepath.Join(db.dir, walDir), filepath.Join(db.dir, lastStateDir)}
	for _, d := range append([]string{db.dir}, subs...) {
		fi, err := db.fs.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("simplekv: %s exists and is not a directory", d)
			}
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("simplekv: cannot use %s: %w", d, err)
		}
		if err := db.fs.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("simplekv: cannot create %s: %w", d, err)
		}
	}
	// Children before parents, so that each entry synced names a directory
	// whose own entries are already durable.
	syncs := append(subs, db.dir)
	for p := filepath.Dir(db.dir); ; p = filepath.Dir(p) {
		syncs = append(syncs, p)
		if p == filepath.Dir(p) {
			break
		}
	}
	for _, d := range syncs {
		if err := db.fs.SyncDir(d); err != nil {
			return fmt.Errorf("simplekv: cannot sync %s: %w", d, err)
		}
	}
	return nil
}

// startWriter creates the active data file id and makes its header and
// directory entry durable before any record in it can be acknowledged.
func (db *DB) startWriter(id uint32) error {
	path := walPath(db.dir, id)
	w, err := datafile.Create(db.fs, path, id)
	if err != nil {
		return fmt.Errorf("simplekv: %w", err)
	}
	if err := w.Sync(); err != nil {
		_ = w.Close()
		return fmt.Errorf("simplekv: %w", err)
	}
	if err := db.fs.SyncDir(filepath.Dir(path)); err != nil {
		_ = w.Close()
		return fmt.Errorf("simplekv: sync %s: %w", filepath.Dir(path), err)
	}
	f, err := db.addReader(id, path, true)
	if err != nil {
		_ = w.Close()
		return err
	}
	f.size.Store(w.Size())
	db.w = w
	db.activeFile = f
	db.active.Store(w)
	db.st.diskBytes.Add(w.Size())
	return nil
}

// addReader makes data file id readable.
func (db *DB) addReader(id uint32, path string, wal bool) (*dataFile, error) {
	r, err := db.openReader(path)
	if err != nil {
		return nil, err
	}
	f := &dataFile{id: id, wal: wal, path: path, r: r}
	db.files.add(f)
	return f, nil
}

// openReader opens a reader of the data file at path, memory-mapped
// unless the options say otherwise.
func (db *DB) openReader(path string) (*datafile.Reader, error) {
	mapLen := 0
	if !db.opts.DisableMmap {
		mapLen = int(db.opts.MaxFileSize)
		if fi, err := db.fs.Stat(path); err == nil && fi.Size() > int64(mapLen) {
			mapLen = int(fi.Size())
		}
	}
	r, err := datafile.OpenReader(db.fs, path, mapLen)
	if err != nil {
		return nil, fmt.Errorf("simplekv: %w", err)
	}
	return r, nil
}

// Close flushes and syncs buffered writes, closes every file and releases
// the directory lock. Close is idempotent; every other method returns
// ErrClosed afterwards. If the final sync fails, Close still releases
// everything and returns the error: writes not yet synced may be lost.
func (db *DB) Close() error {
	db.wmu.Lock()
	if db.closed.Load() {
		db.wmu.Unlock()
		return nil
	}
	db.closed.Store(true)
	db.syncCond.Broadcast()
	db.wmu.Unlock()
	if db.bgStop != nil {
		close(db.bgStop)
		<-db.bgDone
	}
	// Stop the compaction worker and wait for any merge (a manual Compact
	// too) to stop or finish: a merge past its commit point completes.
	close(db.compStop)
	<-db.compDone
	db.mergeMu.Lock()
	//lint:ignore SA2001 waiting for the holder is the point
	db.mergeMu.Unlock()
	db.wmu.Lock()
	for db.syncing {
		db.syncCond.Wait()
	}
	var errs []error
	if db.writeErr == nil {
		if err := db.w.Seal(); err != nil {
			errs = append(errs, err)
		} else {
			db.markSyncedLocked(db.appended)
		}
	}
	sealedID, sealed := db.w.ID(), db.writeErr == nil && len(errs) == 0
	errs = append(errs, db.w.Close())
	// db.active stays set: a Get that passed its closed check still finds
	// unflushed records (after a failed flush) in the buffer rather than
	// reading the mapping past the end of the file.
	db.pending = nil
	db.wmu.Unlock()
	if sealed {
		db.sealedHint(sealedID)
	}
	db.hints.Wait()
	errs = append(errs, db.files.closeAll(), db.lock.Close())
	return errors.Join(errs...)
}

// background flushes the write buffer every FlushInterval and syncs every
// SyncInterval (non-synced DBs only).
func (db *DB) background() {
	defer close(db.bgDone)
	t := time.NewTicker(db.opts.FlushInterval)
	defer t.Stop()
	lastSync := time.Now()
	for {
		select {
		case <-db.bgStop:
			return
		case now := <-t.C:
			if db.opts.SyncInterval > 0 && now.Sub(lastSync) >= db.opts.SyncInterval {
				lastSync = now
				if err := db.Sync(); err != nil && !errors.Is(err, ErrClosed) {
					db.log.Error("simplekv: background sync failed", "err", err)
				}
				continue
			}
			db.wmu.Lock()
			if db.writeErr == nil && !db.closed.Load() && db.w.Buffered() > 0 {
				if err := db.w.Flush(); err != nil {
					db.failLocked(err)
					db.log.Error("simplekv: background flush failed", "err", err)
				}
			}
			db.wmu.Unlock()
		}
	}
}

package engine

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/cespare/xxhash/v2"

	"github.com/simplekv/simplekv/internal/vfs"
)

// A backup stream (FORMAT.md, "Backup stream") is the files of a checkpoint
// in one self-checking sequence:
//
//	header  "SKVB" | version u16 = 1 | reserved u16 = 0 | checksum u32 (of bytes 0..7)
//	file    kind u8 = 1 | path len u16 | path | size u64 | header checksum u32
//	        | size bytes of data | data checksum u32
//	...
//	trailer kind u8 = 0 | files u32 | data bytes u64 | stream checksum u64
//	        (xxhash64 of every byte before the trailer) | trailer checksum u32
//
// Checksums are the low 32 bits of xxhash64 unless said otherwise; a
// header checksum covers the entry's bytes before it.
const (
	backupMagic      = "SKVB"
	backupVersion    = 1
	backupHeaderSize = 12
	backupKindEnd    = 0
	backupKindFile   = 1
	// backupMaxPath bounds an entry's path: "last_state/" + 12 digits +
	// ".data" is 28 bytes.
	backupMaxPath = 64
)

// Backup writes a consistent copy of the DB to w as one stream, while
// readers, writers and merges go on, and returns the bytes written. The
// stream holds what Checkpoint would (the same single point of the write
// order, the same files), each file checksummed and the whole stream
// too; Restore turns it into a directory. On an error from w the stream is
// incomplete, and Restore rejects it.
func (db *DB) Backup(w io.Writer) (int64, error) {
	if db.closed.Load() {
		return 0, ErrClosed
	}
	cut, err := db.takeCut()
	if err != nil {
		return 0, err
	}
	defer cut.release()
	bw := newBackupWriter(w)
	bw.header()
	for _, f := range cut.files {
		if f.size < 0 && !db.usableHint(f.src, f.dataSize) {
			continue
		}
		if err := db.backupFile(bw, f); err != nil {
			return bw.n, err
		}
	}
	bw.trailer()
	return bw.n, bw.flush()
}

// backupFile writes cut file f as one entry.
func (db *DB) backupFile(bw *backupWriter, f cutFile) error {
	r, done, err := db.openCutFile(f)
	if f.size < 0 && errors.Is(err, fs.ErrNotExist) {
		return nil // a hint dropped after a failed write: Restore's Open replays its log file
	}
	if err != nil {
		return fmt.Errorf("simplekv: backup: %w", err)
	}
	defer done()
	if err := bw.file(filepath.ToSlash(f.rel), r.Size(), r); err != nil {
		return fmt.Errorf("simplekv: backup %s: %w", f.src, err)
	}
	return nil
}

// backupWriter writes a stream, hashing every byte for the trailer. The
// first error sticks.
type backupWriter struct {
	w      *bufio.Writer
	stream *xxhash.Digest
	n      int64
	files  uint32
	data   uint64
	err    error
}

func newBackupWriter(w io.Writer) *backupWriter {
	return &backupWriter{w: bufio.NewWriterSize(w, 1<<20), stream: xxhash.New()}
}

func (b *backupWriter) write(p []byte) {
	if b.err != nil {
		return
	}
	_, _ = b.stream.Write(p)
	var n int
	n, b.err = b.w.Write(p)
	b.n += int64(n)
}

func (b *backupWriter) header() {
	h := make([]byte, backupHeaderSize)
	copy(h, backupMagic)
	binary.LittleEndian.PutUint16(h[4:], backupVersion)
	binary.LittleEndian.PutUint32(h[8:], uint32(xxhash.Sum64(h[:8])))
	b.write(h)
}

// file writes one entry: its header, n bytes from r, and their checksum.
func (b *backupWriter) file(path string, n int64, r io.Reader) error {
	h := []byte{backupKindFile}
	h = binary.LittleEndian.AppendUint16(h, uint16(len(path)))
	h = append(h, path...)
	h = binary.LittleEndian.AppendUint64(h, uint64(n))
	h = binary.LittleEndian.AppendUint32(h, uint32(xxhash.Sum64(h)))
	b.write(h)
	d := xxhash.New()
	copied, err := io.Copy(writerFunc(func(p []byte) (int, error) {
		_, _ = d.Write(p)
		b.write(p)
		return len(p), b.err
	}), r)
	if err == nil && copied != n {
		err = fmt.Errorf("read %d of %d bytes", copied, n)
	}
	if err != nil {
		return err
	}
	b.write(binary.LittleEndian.AppendUint32(nil, uint32(d.Sum64())))
	b.files++
	b.data += uint64(n)
	return b.err
}

func (b *backupWriter) trailer() {
	t := []byte{backupKindEnd}
	t = binary.LittleEndian.AppendUint32(t, b.files)
	t = binary.LittleEndian.AppendUint64(t, b.data)
	t = binary.LittleEndian.AppendUint64(t, b.stream.Sum64())
	t = binary.LittleEndian.AppendUint32(t, uint32(xxhash.Sum64(t)))
	b.write(t)
}

func (b *backupWriter) flush() error {
	if b.err == nil {
		b.err = b.w.Flush()
	}
	return b.err
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// Restore reads a backup stream (DB.Backup) from r into a new DB directory
// dir, which must not exist or be empty (ErrTargetExists otherwise). Every
// checksum of the stream is verified as it is read; a stream that is
// truncated, damaged or not a backup fails with an error matching
// ErrBadBackup, and leaves no dir behind. Like Checkpoint, Restore builds
// the directory under a temporary name and renames it into place once it
// is complete and durable.
func Restore(r io.Reader, dir string) error { return restore(vfs.Default, r, dir) }

func restore(fsys vfs.FS, r io.Reader, dir string) error {
	if err := checkTarget(fsys, dir); err != nil {
		return err
	}
	return publishDir(fsys, dir, func(tmp string) error {
		br := &backupReader{r: bufio.NewReaderSize(r, 1<<20), stream: xxhash.New()}
		return br.readInto(fsys, tmp)
	})
}

// backupReader reads a stream, hashing every byte for the trailer.
type backupReader struct {
	r      *bufio.Reader
	stream *xxhash.Digest
	off    int64
}

func (b *backupReader) bad(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrBadBackup, b.off, fmt.Sprintf(format, args...))
}

// read fills p; the end of the stream is a truncation.
func (b *backupReader) read(p []byte, what string) error {
	n, err := io.ReadFull(b.r, p)
	b.off += int64(n)
	_, _ = b.stream.Write(p[:n])
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return b.bad("the stream ends inside %s", what)
	}
	if err != nil {
		return fmt.Errorf("simplekv: restore: read %s: %w", what, err)
	}
	return nil
}

func (b *backupReader) readInto(fsys vfs.FS, tmp string) error {
	h := make([]byte, backupHeaderSize)
	if err := b.read(h, "the stream header"); err != nil {
		return err
	}
	switch {
	case string(h[:4]) != backupMagic:
		return b.bad("magic %q, not a simplekv backup", h[:4])
	case binary.LittleEndian.Uint32(h[8:]) != uint32(xxhash.Sum64(h[:8])):
		return b.bad("stream header checksum mismatch")
	case binary.LittleEndian.Uint16(h[4:]) != backupVersion:
		return fmt.Errorf("%w: backup stream version %d, this build reads %d", ErrVersion, binary.LittleEndian.Uint16(h[4:]), backupVersion)
	case binary.LittleEndian.Uint16(h[6:]) != 0:
		return b.bad("reserved header field is %#x", h[6:8])
	}
	var files uint32
	var data uint64
	seen := map[string]bool{}
	for {
		var kind [1]byte
		sumBefore := b.stream.Sum64() // the trailer's stream checksum covers bytes before it
		if err := b.read(kind[:], "an entry"); err != nil {
			return err
		}
		switch kind[0] {
		case backupKindEnd:
			return b.trailer(files, data, sumBefore)
		case backupKindFile:
		default:
			return b.bad("entry kind %d", kind[0])
		}
		path, n, err := b.entryHeader()
		if err != nil {
			return err
		}
		if seen[path] {
			return b.bad("%s appears twice", path)
		}
		seen[path] = true
		if err := b.fileData(fsys, filepath.Join(tmp, filepath.FromSlash(path)), n); err != nil {
			return err
		}
		files++
		data += uint64(n)
	}
}

// entryHeader reads the rest of a file entry's header (after its kind).
func (b *backupReader) entryHeader() (string, int64, error) {
	var l [2]byte
	if err := b.read(l[:], "an entry header"); err != nil {
		return "", 0, err
	}
	pl := int(binary.LittleEndian.Uint16(l[:]))
	if pl == 0 || pl > backupMaxPath {
		return "", 0, b.bad("entry path of %d bytes", pl)
	}
	rest := make([]byte, pl+8+4)
	if err := b.read(rest, "an entry header"); err != nil {
		return "", 0, err
	}
	hdr := append(append([]byte{backupKindFile}, l[:]...), rest[:pl+8]...)
	if binary.LittleEndian.Uint32(rest[pl+8:]) != uint32(xxhash.Sum64(hdr)) {
		return "", 0, b.bad("entry header checksum mismatch")
	}
	path := string(rest[:pl])
	if !backupPathOK(path) {
		return "", 0, b.bad("entry path %q is not a data or hint file of wal/ or last_state/", path)
	}
	n := binary.LittleEndian.Uint64(rest[pl:])
	if n > 1<<40 {
		return "", 0, b.bad("entry %s of %d bytes", path, n)
	}
	return path, int64(n), nil
}

// backupPathOK accepts exactly the paths a backup holds: a data or hint
// file name of wal/ or last_state/.
func backupPathOK(path string) bool {
	dir, name, ok := strings.Cut(path, "/")
	if !ok || (dir != walDir && dir != lastStateDir) {
		return false
	}
	base, ok := strings.CutSuffix(name, hintExt)
	if !ok {
		base, ok = strings.CutSuffix(name, dataExt)
	}
	_, idOK := parseDataFileName(base + dataExt)
	return ok && idOK
}

// fileData copies an entry's n bytes to dst and checks their checksum.
func (b *backupReader) fileData(fsys vfs.FS, dst string, n int64) error {
	out, err := fsys.Create(dst)
	if err != nil {
		return fmt.Errorf("simplekv: restore: create %s: %w", dst, err)
	}
	d := xxhash.New()
	err = b.copyN(out, d, n)
	if err == nil {
		var sum [4]byte
		if err = b.read(sum[:], "a file's checksum"); err == nil && binary.LittleEndian.Uint32(sum[:]) != uint32(d.Sum64()) {
			err = b.bad("the data of %s fails its checksum", dst)
		}
	}
	if err == nil {
		if err = out.Sync(); err != nil {
			err = fmt.Errorf("simplekv: restore: sync %s: %w", dst, err)
		}
	}
	if cerr := out.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("simplekv: restore: close %s: %w", dst, cerr)
	}
	return err
}

// copyN copies n bytes of the stream to out, hashing them into d.
func (b *backupReader) copyN(out io.Writer, d hash.Hash64, n int64) error {
	buf := make([]byte, 256<<10)
	for n > 0 {
		p := buf[:min(int64(len(buf)), n)]
		if err := b.read(p, "a file's data"); err != nil {
			return err
		}
		_, _ = d.Write(p)
		if _, err := out.Write(p); err != nil {
			return fmt.Errorf("simplekv: restore: write: %w", err)
		}
		n -= int64(len(p))
	}
	return nil
}

// trailer checks the trailer (after its kind byte) against what was read,
// and that nothing follows it.
func (b *backupReader) trailer(files uint32, data, streamSum uint64) error {
	t := make([]byte, 4+8+8+4)
	if err := b.read(t, "the trailer"); err != nil {
		return err
	}
	whole := append([]byte{backupKindEnd}, t[:20]...)
	switch {
	case binary.LittleEndian.Uint32(t[20:]) != uint32(xxhash.Sum64(whole)):
		return b.bad("trailer checksum mismatch")
	case binary.LittleEndian.Uint32(t) != files || binary.LittleEndian.Uint64(t[4:]) != data:
		return b.bad("the trailer counts %d files and %d bytes; the stream held %d and %d",
			binary.LittleEndian.Uint32(t), binary.LittleEndian.Uint64(t[4:]), files, data)
	case binary.LittleEndian.Uint64(t[12:]) != streamSum:
		return b.bad("stream checksum mismatch")
	}
	if _, err := b.r.ReadByte(); err != io.EOF {
		return b.bad("bytes after the trailer")
	}
	return nil
}

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// The lines of a README between which -readme puts results.md.
const (
	readmeBegin = "<!-- kvbench:begin -->"
	readmeEnd   = "<!-- kvbench:end -->"
)

// splice returns doc with the lines between the begin and end marker lines
// replaced by content (the marker lines stay). Each marker must be a line
// of its own (surrounding spaces aside), appear once, begin before end.
func splice(doc, content []byte) ([]byte, error) {
	lines := bytes.SplitAfter(doc, []byte("\n"))
	begin, end := -1, -1
	for i, l := range lines {
		switch string(bytes.TrimSpace(l)) {
		case readmeBegin:
			if begin >= 0 {
				return nil, fmt.Errorf("marker %s appears twice (lines %d and %d)", readmeBegin, begin+1, i+1)
			}
			begin = i
		case readmeEnd:
			if end >= 0 {
				return nil, fmt.Errorf("marker %s appears twice (lines %d and %d)", readmeEnd, end+1, i+1)
			}
			end = i
		}
	}
	switch {
	case begin < 0 && end < 0:
		return nil, fmt.Errorf("no %s and %s marker lines to put the results between", readmeBegin, readmeEnd)
	case begin < 0:
		return nil, fmt.Errorf("no %s marker line (%s is on line %d)", readmeBegin, readmeEnd, end+1)
	case end < 0:
		return nil, fmt.Errorf("no %s marker line after %s (line %d)", readmeEnd, readmeBegin, begin+1)
	case end < begin:
		return nil, fmt.Errorf("%s (line %d) comes before %s (line %d)", readmeEnd, end+1, readmeBegin, begin+1)
	}
	var out bytes.Buffer
	for _, l := range lines[:begin+1] {
		out.Write(l)
	}
	if !bytes.HasSuffix(lines[begin], []byte("\n")) {
		out.WriteByte('\n')
	}
	out.Write(content)
	if len(content) > 0 && !bytes.HasSuffix(content, []byte("\n")) {
		out.WriteByte('\n')
	}
	for _, l := range lines[end:] {
		out.Write(l)
	}
	return out.Bytes(), nil
}

// spliceFile puts content between the markers of the file at path,
// replacing the file atomically (a temporary file renamed over it) with
// its permissions kept.
func spliceFile(path string, content []byte) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := splice(doc, content)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".kvbench-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(out)
	err = errors.Join(err, tmp.Chmod(fi.Mode().Perm()), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return err
}

// chartLink is the path of the chart in dir as a link from a document in
// docDir, with forward slashes.
func chartLink(docDir, chart string) string {
	absDoc, err1 := filepath.Abs(docDir)
	absChart, err2 := filepath.Abs(chart)
	if err1 == nil && err2 == nil {
		if rel, err := filepath.Rel(absDoc, absChart); err == nil {
			return filepath.ToSlash(rel)
		}
	}
	return filepath.ToSlash(chart)
}

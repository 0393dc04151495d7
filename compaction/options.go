package compaction

import (
	"errors"
	"fmt"
	"math"
)

// ErrInvalidOptions is wrapped by the error Options.Validate returns; the
// message lists every problem found.
var ErrInvalidOptions = errors.New("compaction: invalid options")

// Options configures the picker. Triggers decide WHEN a merge runs: a merge
// runs as soon as any enabled trigger fires. Thresholds decide WHICH files
// join once it does: every file that meets any enabled threshold or trigger.
//
// The zero value of every field means its documented default, so Options{}
// is a working configuration; a negative value disables that trigger or
// threshold. With every trigger disabled the picker never starts a merge
// (All still plans a manual one).
type Options struct {
	// TriggerDeadFraction starts a merge when some sealed file's dead
	// fraction (dead bytes over bytes after the header; 1 for a fully
	// expired file) is at least this. Default 0.6; must be in (0, 1] when
	// positive.
	TriggerDeadFraction float64
	// TriggerDeadBytes starts a merge when some sealed file holds at least
	// this many dead bytes (all of them after the header for a fully
	// expired file). Default 128 MiB.
	TriggerDeadBytes int64
	// TriggerWALFiles starts a merge when there are at least this many
	// sealed files in wal/; every one of them then joins the merge, so the
	// log tail that recovery must replay stays short. Default 2.
	TriggerWALFiles int

	// ThresholdDeadFraction makes a file join a running merge when its
	// dead fraction is at least this. Default 0.4; must be in (0, 1] when
	// positive and not above TriggerDeadFraction when both are enabled.
	ThresholdDeadFraction float64
	// ThresholdDeadBytes makes a file join a running merge when it holds at
	// least this many dead bytes. Default 32 MiB; not above
	// TriggerDeadBytes when both are enabled.
	ThresholdDeadBytes int64
	// ThresholdSmallFile makes a file smaller than this (header included)
	// join a running merge, so that small files are merged together.
	// Default 16 MiB.
	ThresholdSmallFile int64
}

// Defaults of the Options fields.
const (
	// DefaultTriggerDeadFraction is the default of TriggerDeadFraction.
	DefaultTriggerDeadFraction = 0.6
	// DefaultTriggerDeadBytes is the default of TriggerDeadBytes.
	DefaultTriggerDeadBytes = 128 << 20
	// DefaultTriggerWALFiles is the default of TriggerWALFiles.
	DefaultTriggerWALFiles = 2
	// DefaultThresholdDeadFraction is the default of ThresholdDeadFraction.
	DefaultThresholdDeadFraction = 0.4
	// DefaultThresholdDeadBytes is the default of ThresholdDeadBytes.
	DefaultThresholdDeadBytes = 32 << 20
	// DefaultThresholdSmallFile is the default of ThresholdSmallFile.
	DefaultThresholdSmallFile = 16 << 20
)

// Validate reports every problem at once, joined and wrapped in
// ErrInvalidOptions. Zero fields are valid (they mean the default) and
// negative fields are valid (they disable their trigger or threshold).
//
// A fraction, when positive, must be a finite number no greater than 1
// (NaN and infinities are rejected whatever their sign). A threshold must
// not be above its trigger (ThresholdDeadFraction above
// TriggerDeadFraction, ThresholdDeadBytes above TriggerDeadBytes) when both
// are enabled; the comparison is made after zero fields take their
// defaults, so setting only one side can conflict with the other's
// default.
func (o Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	fracOK := func(name string, v float64) bool {
		switch {
		case math.IsNaN(v):
			bad("%s is NaN", name)
		case math.IsInf(v, 0):
			bad("%s %v is not finite", name, v)
		case v > 1:
			bad("%s %v above 1", name, v)
		default:
			return true
		}
		return false
	}
	trigFracOK := fracOK("TriggerDeadFraction", o.TriggerDeadFraction)
	thrFracOK := fracOK("ThresholdDeadFraction", o.ThresholdDeadFraction)

	d := o.WithDefaults()
	if trigFracOK && thrFracOK && d.TriggerDeadFraction > 0 && d.ThresholdDeadFraction > d.TriggerDeadFraction {
		bad("ThresholdDeadFraction %v%s above TriggerDeadFraction %v%s",
			d.ThresholdDeadFraction, dflt(o.ThresholdDeadFraction == 0),
			d.TriggerDeadFraction, dflt(o.TriggerDeadFraction == 0))
	}
	if d.TriggerDeadBytes > 0 && d.ThresholdDeadBytes > d.TriggerDeadBytes {
		bad("ThresholdDeadBytes %d%s above TriggerDeadBytes %d%s",
			d.ThresholdDeadBytes, dflt(o.ThresholdDeadBytes == 0),
			d.TriggerDeadBytes, dflt(o.TriggerDeadBytes == 0))
	}

	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidOptions, errors.Join(errs...))
	}
	return nil
}

// dflt marks a value in an error message as a default the caller did not
// set.
func dflt(isDefault bool) string {
	if isDefault {
		return " (default)"
	}
	return ""
}

// WithDefaults returns a copy of o with every zero field set to its
// default. Negative (disabled) fields are kept as they are.
func (o Options) WithDefaults() Options {
	if o.TriggerDeadFraction == 0 {
		o.TriggerDeadFraction = DefaultTriggerDeadFraction
	}
	if o.TriggerDeadBytes == 0 {
		o.TriggerDeadBytes = DefaultTriggerDeadBytes
	}
	if o.TriggerWALFiles == 0 {
		o.TriggerWALFiles = DefaultTriggerWALFiles
	}
	if o.ThresholdDeadFraction == 0 {
		o.ThresholdDeadFraction = DefaultThresholdDeadFraction
	}
	if o.ThresholdDeadBytes == 0 {
		o.ThresholdDeadBytes = DefaultThresholdDeadBytes
	}
	if o.ThresholdSmallFile == 0 {
		o.ThresholdSmallFile = DefaultThresholdSmallFile
	}
	return o
}

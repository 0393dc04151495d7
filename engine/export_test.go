package engine

// The tests of this package hook every operation of an in-memory
// filesystem; they need hints written in the sealing goroutine (see
// hintsInline). Tests of the background writer turn it off around Open.
func init() { hintsInline = true }

// UseBackgroundHints makes the DBs opened from now on write sealed log
// files' hints in the background, as outside tests: the process-crash
// child calls it, so that SIGKILLs land during background hint writes too.
func UseBackgroundHints() { hintsInline = false }

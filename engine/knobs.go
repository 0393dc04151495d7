package engine

// knobs are pause points for tests that need one exact interleaving of a
// merge and a checkpoint, which timing alone makes too rare to test. They
// are nil outside tests, and a test sets them before it starts the
// operations that run them.
var knobs struct {
	// cutListed runs in takeCut once the files of a cut are listed.
	cutListed func()
	// mergeInstalled runs in installMerge once the outputs are in place,
	// before the inputs leave the file set.
	mergeInstalled func()
}

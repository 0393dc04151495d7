package engine

import (
	"os"
	"os/exec"
	"testing"
)

// testChild returns a command that re-runs this test binary, running only
// the tests matching run, with extra environment variables.
func testChild(t *testing.T, run string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run="+run, "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

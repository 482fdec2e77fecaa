package smoke

import (
	"flag"
	"fmt"
	"os"
)

// wrappedVar tells the suite that run-smoke runs it under gotestsum and renders the documents
// from junit.xml when it has ended, so that the suite does not render them too.
const wrappedVar = "GPUSMOKE_WRAPPED"

// tellUser prints what the operator must see whatever go test does with the suite's output:
// on stderr, which go test shows with -v or on a failure, and on the terminal itself when
// there is one, since a plain `go test ./smoke` that passes shows nothing of its output (where
// the evidence is, and a -timeout shorter than the plan).
func tellUser(msg string) {
	fmt.Fprint(os.Stderr, msg)
	if flag.Lookup("test.v").Value.String() == "false" {
		if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
			fmt.Fprint(tty, msg)
			tty.Close()
		}
	}
}

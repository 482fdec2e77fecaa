// Package mainfail is a throwaway test package whose TestMain fails before any test runs, as the
// smoke suite's does when it cannot create SMOKE_OUT. gotestsum reports it as a testcase named
// "TestMain". See ../README.md for the command that recorded ../junit-testmain.xml.
package mainfail

import (
	"fmt"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	fmt.Println("smoke: create SMOKE_OUT /nonexistent/out: permission denied")
	os.Exit(1)
}

func Test00Preflight(t *testing.T) {}

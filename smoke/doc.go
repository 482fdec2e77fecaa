// Package smoke runs the difftrain runbook's checklist sections, in the runbook's order, as Go tests that halt at the first failure.
//
// The sections are the tests in sections_test.go; TestMain in main_test.go gathers the machine's
// facts first. The files here hold what the sections share: the operator settings, the run's
// state and the gate that blocks every section after a failure.
package smoke

// Package view owns the run as every document reads it: one model (Evidence), loaded from
// run.json or from junit.xml and the evidence beside it, and the phrases and markdown escaping
// the documents share, so that each is computed once.
package view

// Package artifacts owns the checks of difftrain's outputs: the dummy dataset, env.json, the
// configs (and the in-place edits the AMP sections make to them), run_manifest.json, the
// checkpoints, the training log, pytest's results of a lane and the failure causes read from a
// log. Each check is a function that returns a one-line error, reads what it checks in bounded
// memory (limits.go) and knows nothing of the suite that calls it.
package artifacts

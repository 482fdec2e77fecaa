// Package evidence owns a smoke run's evidence directory (SMOKE_OUT): its layout, run.json and summary.json, the JUnit property names and result words, copies and references, the one hash, the one JSON reader, the one log tail and SHA256SUMS (package redact keeps the secrets out); the suite writes the directory through it and the renderer reads it back through it.
package evidence

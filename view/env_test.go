package view

import (
	"testing"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/gpuenv"
)

// The Health row says each finding once, as its message names its GPU: preflight's and those
// made while the steps ran (run.json's health), which a reader would otherwise never see there.
func TestHealthRow(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    Evidence
		want string
	}{
		{"none", Evidence{Env: &gpuenv.Facts{}}, "no findings"},
		{"preflight", Evidence{Env: &gpuenv.Facts{Health: []gpuenv.Finding{
			{Severity: gpuenv.Fatal, GPU: 0, Message: "GPU 0: 3 volatile uncorrectable ECC error(s)"},
			{Severity: gpuenv.Note, GPU: -1, Message: "driver is old"}}}},
			"fatal: GPU 0: 3 volatile uncorrectable ECC error(s); note: driver is old"},
		{"at load", Evidence{Env: &gpuenv.Facts{}, Run: evidence.Run{Health: []string{"GPU 1: PCIe link at gen3 x16 under load"}}},
			"note: GPU 1: PCIe link at gen3 x16 under load"},
	} {
		if got := tc.e.EnvValues()["Health"]; got != tc.want {
			t.Errorf("%s: Health %q, want %q", tc.name, got, tc.want)
		}
	}
}

package artifacts

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var smokeExpect = Expect{Precision: "fp32", Seed: 123, MaxSteps: 2, DataRoot: "./data/smoke_text2image"}

func TestCheckResolvedConfig(t *testing.T) {
	type testCase struct {
		name     string
		resolved func(string) string // edits config.resolved.yaml's text
		source   func(string) string // edits the source config's text
		want     Expect
		noSource bool
		wantErr  string // substring; "" for success. @R is the resolved file, @S the source.
	}
	same := func(s string) string { return s }
	run := func(t *testing.T, tc testCase) {
		w := newWorkspace(t)
		if tc.resolved != nil {
			writeFile(t, w.resolved, tc.resolved(readFile(t, w.resolved)))
		}
		if tc.source != nil {
			writeFile(t, w.source, tc.source(readFile(t, w.source)))
		}
		src := w.source
		if tc.noSource {
			src = ""
		}
		cfg, err := CheckResolvedConfig(w.resolved, src, tc.want)
		if tc.wantErr == "" {
			require.NoError(t, err)
			require.Equal(t, "fp32", cfg["train"].(map[string]any)["precision"])
			return
		}
		require.Error(t, err)
		want := strings.NewReplacer("@R", w.resolved, "@S", w.source).Replace(tc.wantErr)
		require.Contains(t, err.Error(), want)
		require.NotContains(t, err.Error(), "\n")
	}
	for _, tc := range []testCase{
		{name: "recorded run", resolved: same, want: smokeExpect},
		{name: "no expectations", resolved: same},
		{name: "no source", noSource: true, want: smokeExpect},
		{
			name:     "unknown top-level key",
			resolved: func(s string) string { return s + "extra:\n  a: 1\n" },
			wantErr:  "@R: extra: unknown top-level key",
		},
		{
			name:     "missing section",
			resolved: func(s string) string { return s[:strings.Index(s, "loss:")] },
			wantErr:  "@R: loss: missing section",
		},
		{
			name:     "section not a mapping",
			resolved: func(s string) string { return s[:strings.Index(s, "loss:")] + "loss: 3\n" },
			wantErr:  "@R: loss: want a mapping, got number",
		},
		{
			name:     "not YAML",
			resolved: func(string) string { return "train: [\n" },
			wantErr:  "@R: not YAML",
		},
		{
			name:     "empty",
			resolved: func(string) string { return "" },
			wantErr:  "@R: empty document",
		},
		{
			name:     "a list, not a mapping",
			resolved: func(string) string { return "- train\n" },
			wantErr:  "@R: want a mapping of sections, got list",
		},
		{
			name:     "differs from the source",
			resolved: func(s string) string { return strings.Replace(s, "seed: 123", "seed: 42", 1) },
			wantErr:  "@R: train.seed: 42, but @S sets 123",
		},
		{
			name:     "drops a key the source sets",
			resolved: func(s string) string { return strings.Replace(s, "  log_every: 1\n", "", 1) },
			wantErr:  "@R: train.log_every: missing, but @S sets it to 1",
		},
		{
			name:    "source has an unknown section",
			source:  func(s string) string { return s + "extra:\n  a: 1\n" },
			wantErr: "@R: extra: missing, but @S has this section",
		},
		{
			name:   "source section left empty takes the defaults",
			source: func(s string) string { return s + "scheduler:\n" },
			want:   smokeExpect,
		},
		{
			name: "PyYAML reads yes/no as booleans and 1e-4 as a string",
			source: func(s string) string {
				return strings.Replace(s, "model:\n", "model:\n  use_ema: no\n", 1) + "loss:\n  type: 1e-4\n"
			},
			resolved: func(s string) string { return strings.Replace(s, "type: mse", "type: '1e-4'", 1) },
			want:     smokeExpect,
		},
		{name: "precision", want: Expect{Precision: "fp16"}, wantErr: `@R: train.precision: "fp32", want "fp16"`},
		{name: "seed", want: Expect{Seed: 7}, wantErr: "@R: train.seed: 123, want 7"},
		{name: "max_steps", want: Expect{MaxSteps: 3}, wantErr: "@R: train.max_steps: 2, want 3"},
		{name: "data_root", want: Expect{DataRoot: "data/other"}, wantErr: `@R: data.data_root: "data/smoke_text2image", want "data/other"`},
		// Without the source to compare with, only the expectation can catch a data root that
		// is gone or is not a path.
		{name: "data_root missing", noSource: true, want: smokeExpect,
			resolved: func(s string) string { return strings.Replace(s, "  data_root: data/smoke_text2image\n", "", 1) },
			wantErr:  `@R: data.data_root: null, want "./data/smoke_text2image"`},
		{name: "data_root not a string", noSource: true, want: smokeExpect,
			resolved: func(s string) string {
				return strings.Replace(s, "data_root: data/smoke_text2image", "data_root: [data/smoke_text2image]", 1)
			},
			wantErr: `@R: data.data_root: list of 1 items, want "./data/smoke_text2image"`},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc) })
	}
}

func TestCheckResolvedConfig_MissingFiles(t *testing.T) {
	w := newWorkspace(t)
	_, err := CheckResolvedConfig(filepath.Join(w.out, "nope.yaml"), w.source, smokeExpect)
	require.ErrorContains(t, err, "nope.yaml")
	_, err = CheckResolvedConfig(w.resolved, filepath.Join(w.dir, "gone.yaml"), smokeExpect)
	require.ErrorContains(t, err, "gone.yaml")
}

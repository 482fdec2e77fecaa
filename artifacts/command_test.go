package artifacts

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The training script writes --output-dir and --resume-from into the resolved config (the
// contract's facts); validate_config.py writes the source's values whatever its flags.
func TestOverrides(t *testing.T) {
	const ckpt = "./difftrain/_tmp_run/checkpoint-2.pt"
	for _, tc := range []struct {
		name string
		argv []string
		want map[string]any
	}{
		{"training", []string{"python", "./difftrain/scripts/train_text_to_image.py", "--config", "c.yaml", "--output-dir", "./difftrain/_tmp_run"},
			map[string]any{"train.output_dir": "./difftrain/_tmp_run"}},
		{"resume", []string{"python", "./difftrain/scripts/train_text_to_image.py", "--config", "c.yaml", "--output-dir", "./difftrain/_tmp_run", "--resume-from", ckpt},
			map[string]any{"train.output_dir": "./difftrain/_tmp_run", "train.resume_from": ckpt}},
		{"resume, flags with =", []string{"python", "./difftrain/scripts/train_text_to_image.py", "--output-dir=out", "--resume-from=" + ckpt},
			map[string]any{"train.output_dir": "out", "train.resume_from": ckpt}},
		{"validate sets nothing", []string{"python", "./difftrain/scripts/validate_config.py", "--output-dir", "out", "--resume-from", ckpt},
			map[string]any{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, ParseCommand(tc.argv).Overrides())
		})
	}
}

// A resume's config.resolved.yaml holds train.resume_from as its --resume-from gave it, where
// the source config sets "": the check expects the flag's value, and a resume that ignored its
// flag fails.
func TestExpectForResume(t *testing.T) {
	const ckpt = "./difftrain/_tmp_run/checkpoint-2.pt"
	resume := ParseCommand([]string{"python", "./difftrain/scripts/train_text_to_image.py", "--config", "./difftrain/configs/smoke_text2image.yaml",
		"--output-dir", "runs/smoke_text2image", "--resume-from", ckpt})
	for _, tc := range []struct {
		name, resumeFrom, wantErr string
	}{
		{"resumed from its flag", ckpt, ""},
		{"the flag ignored", "''", `train.resume_from: "", want "` + ckpt + `" as the command sets it`},
		{"another checkpoint", "./difftrain/_tmp_run/checkpoint-1.pt", `train.resume_from: "./difftrain/_tmp_run/checkpoint-1.pt", want "` + ckpt + `"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorkspace(t)
			writeFile(t, w.resolved, strings.Replace(readFile(t, w.resolved), "resume_from: ''", "resume_from: "+tc.resumeFrom, 1))
			want, err := ExpectFor(resume, w.source)
			require.NoError(t, err)
			_, err = CheckResolvedConfig(w.resolved, w.source, want)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, w.resolved+": "+tc.wantErr)
		})
	}
}

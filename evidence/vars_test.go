package evidence

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A SMOKE_* or GPUSMOKE_* variable that is not in Vars is refused in one line that names each
// (sorted, once) with the closest known name, and never its value; other variables, and the
// known ones, pass.
func TestCheckVars(t *testing.T) {
	require.NoError(t, CheckVars([]string{"PATH=/bin", "SMOKE_OUT=/x", "GPUSMOKE_DIR=/b", "SMOKEY=1", "MY_SMOKE_X=1"}))
	err := CheckVars([]string{"SMOKE_PLANN=pytest-lanes", "GPUSMOKE_SHARD=hf_secretvalue", "SMOKE_PLANN=again", "SMOKE_OUT=/x"})
	require.EqualError(t, err, `GPUSMOKE_SHARD is not a setting of the harness (did you mean GPUSMOKE_SHARED?); `+
		`SMOKE_PLANN is not a setting of the harness (did you mean SMOKE_PLAN?): `+
		`every SMOKE_* and GPUSMOKE_* variable must be one it knows (README, "Operator settings")`)
	for _, tc := range [][2]string{{"SMOKE_OUTDIR", "SMOKE_OUT"}, {"SMOKE_PYTON", "SMOKE_PYTHON"}, {"SMOKE_COPY_CAP", "SMOKE_COPY_CAP_MB"},
		{"GPUSMOKE_BINDIR", "GPUSMOKE_BIN"}, {"SMOKE_LEFTOVER", "SMOKE_LEFTOVERS"}} {
		require.Equal(t, tc[1], closestVar(tc[0]), tc[0])
	}
}

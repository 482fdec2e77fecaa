package gpusmoke_test

// End-to-end tests of issue 11's "Secrets" and "Unbounded reads" cases: `make smoke` (or the
// compiled suite) against the fixture made hostile by its knobs, then every file of the evidence
// is searched for what must not be there.

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/redact"
)

// evidenceFiles lists the files of an evidence directory, the fixture's scratch workspace/
// (unsealed, not evidence) left out.
func evidenceFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && p == filepath.Join(dir, evidence.WorkspaceDir) {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() {
			return err
		}
		files = append(files, p)
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

// requireNoSecretPart fails when any file of the evidence holds any n bytes of secret in a row:
// a token cut short (a clipped value, a cut console line) leaks as much as a whole one.
func requireNoSecretPart(t *testing.T, dir, secret string, n int) {
	t.Helper()
	require.GreaterOrEqual(t, len(secret), n)
	for _, p := range evidenceFiles(t, dir) {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		for i := 0; i+n <= len(secret); i++ {
			if j := bytes.Index(b, []byte(secret[i:i+n])); j >= 0 {
				lo, hi := max(0, j-60), min(len(b), j+n+60)
				t.Fatalf("%s holds %q, %d bytes of the secret (at byte %d of it): ...%s...", p, secret[i:i+n], n, i, b[lo:hi])
			}
		}
	}
}

// requireNoText fails when any file of the evidence holds s.
func requireNoText(t *testing.T, dir, s string) {
	t.Helper()
	for _, p := range evidenceFiles(t, dir) {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		if j := bytes.Index(b, []byte(s)); j >= 0 {
			lo, hi := max(0, j-60), min(len(b), j+len(s)+60)
			t.Fatalf("%s holds %q: ...%s...", p, s, b[lo:hi])
		}
	}
}

// requireValidJSON checks that every JSON file of the evidence is valid JSON, and every line of
// the go test -json stream a JSON object: redaction may never make one invalid.
func requireValidJSON(t *testing.T, dir string) {
	t.Helper()
	n := 0
	for _, p := range evidenceFiles(t, dir) {
		if filepath.Ext(p) != ".json" {
			continue
		}
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		n++
		if filepath.Base(p) == evidence.JSONFile {
			sc := bufio.NewScanner(bytes.NewReader(b))
			sc.Buffer(make([]byte, 64<<10), 16<<20)
			for line := 1; sc.Scan(); line++ {
				require.True(t, json.Valid(sc.Bytes()), "%s: line %d is not JSON: %s", p, line, sc.Text())
			}
			require.NoError(t, sc.Err())
			continue
		}
		require.True(t, json.Valid(b), "%s is not valid JSON:\n%s", p, b)
	}
	require.Greater(t, n, 3, "run.json, gpu_env.json, go-test.json and the copies")
}

// Harmless values of AWS_* (and other) variables are not secrets: with AWS_SDK_LOAD_CONFIG=true
// every "true" became [REDACTED:AWS_SDK_LOAD_CONFIG], which broke the JSON of gpu_env.json and of
// the copied manifests, and with AWS_DEFAULT_OUTPUT=json every "env.json" was mangled. A real
// secret among them is still redacted.
func TestSecretsHarmlessEnvValuesAreNotRedacted(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYZQ7W3V9K2M"
	r := makeSmoke(t, "AWS_SDK_LOAD_CONFIG=true", "AWS_DEFAULT_OUTPUT=json", "AWS_REGION=us-east-1",
		"AWS_SECRET_ACCESS_KEY="+secret, "FIXTURE_LEAK_ARTIFACTS=AWS_SECRET_ACCESS_KEY")
	require.Equal(t, 0, r.code, r.tail())
	for _, name := range sections[:7] {
		res, reason := r.result(t, name)
		require.Equal(t, evidence.Pass, res, "%s: %s", name, reason)
	}
	requireValidJSON(t, r.out)
	for _, name := range []string{"AWS_SDK_LOAD_CONFIG", "AWS_DEFAULT_OUTPUT", "AWS_REGION"} {
		requireNoText(t, r.out, redact.Marker(name))
	}
	require.Contains(t, r.notes("Test03Validate"), "env.json, config.resolved.yaml, run_manifest.json verified")
	manifest := r.read(t, "artifacts/04-train/run_manifest.json")
	require.Contains(t, manifest, `"deterministic": true`)
	require.Contains(t, manifest, `/env.json"`)
	require.Contains(t, manifest, redact.Marker("AWS_SECRET_ACCESS_KEY"))
	requireNoSecretPart(t, r.out, secret, 8)
	require.NoError(t, exec.Command("make", "--no-print-directory", "verify", "RUNS="+r.out).Run(), "SHA256SUMS must verify")
}

// Well-known token shapes are redacted though no secret-named variable holds them (a Hugging Face
// token, an AWS access key id, GitHub tokens, a bearer token, a private key's PEM block), and a
// secret with a quote and a backslash, which JSON escapes, is redacted in the JSON copies, which
// stay valid JSON.
func TestSecretsTokenShapesAreRedacted(t *testing.T) {
	tokens := map[string]string{
		"HUB_LOGIN":  "hf_Vq3Mz8Kt5Rw2Ly7Nc4Bx9Hp6Gd1Fj0Su",
		"UPLOAD_ID":  "AKIAZQ7W3V9K2M5X8R4T", // AKIA and 16 more
		"GH_LOGIN":   "ghp_Zr9Kq2Vw7Mx4Tb8Nc3Lp6Gd1Hs5Fj0YuQe",
		"GH_FINE":    "github_pat_11ZQ7W3V9K0_Rk2VmQ7bT4wZn9LcP3dG6sY5fH1aUqEXt8Jy4Kc7NvL5pGd8SyH3Wm4Tq9ZrB2x",
		"HUB_HEADER": "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJxN3cifQ.Zr9Kq2Vw7Mx4Tb8N",
	}
	pemBody := []string{
		"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
		"QyNTUxOQAAACDZr9Kq2Vw7Mx4Tb8Nc3Lp6Gd1Hs5Fj0YuQeWm4Tq9ZrB2xKc7NvL5pGd8",
	}
	pem := "-----BEGIN OPENSSH PRIVATE KEY-----\n" + strings.Join(pemBody, "\n") + "\n-----END OPENSSH PRIVATE KEY-----"
	const password = `pa"ss\wQ7b-T4wZn9`
	env := []string{"DEPLOY_PEM=" + pem, "DB_PASSWORD=" + password, "TESTFLAGS=-run Test0[0-5]",
		"FIXTURE_LEAK=HUB_LOGIN,UPLOAD_ID,GH_LOGIN,GH_FINE,HUB_HEADER",
		"FIXTURE_LEAK_ARTIFACTS=HUB_LOGIN,UPLOAD_ID,GH_LOGIN,GH_FINE,HUB_HEADER,DEPLOY_PEM,DB_PASSWORD"}
	for k, v := range tokens {
		env = append(env, k+"="+v)
	}
	r := makeSmoke(t, env...)
	require.Equal(t, evidence.ExitIncomplete, r.exit, "-run left sections out: INCOMPLETE; output:\n%s", r.tail())
	requireValidJSON(t, r.out)
	for k, v := range tokens {
		if k == "HUB_HEADER" {
			v = strings.TrimPrefix(v, "Authorization: Bearer ")
		}
		requireNoSecretPart(t, r.out, v, 12)
	}
	for _, line := range pemBody {
		requireNoSecretPart(t, r.out, line, 12)
	}
	requireNoText(t, r.out, password)
	requireNoText(t, r.out, `pa\"ss\\wQ7b`) // as JSON escapes it
	log := r.read(t, "logs/04-train.log")
	require.Contains(t, log, "[fixture] HUB_LOGIN=[REDACTED:")
	require.Contains(t, log, "[fixture] HUB_HEADER=Authorization: Bearer [REDACTED:")
	envJSON := r.read(t, "artifacts/04-train/env.json")
	require.Contains(t, envJSON, redact.Marker("DB_PASSWORD"))
	require.Contains(t, r.read(t, "artifacts/04-train/config.resolved.yaml"), "# DEPLOY_PEM=[REDACTED:")
}

// A check's error that quotes difftrain's output clips a long value at 80 bytes: the clipped
// token no longer equals the secret, and its first bytes went into junit.xml, go-test.json,
// checklist.md and report.md. Nothing of it may reach the evidence.
func TestSecretsQuotedInACheckError(t *testing.T) {
	const secret = "hf_Qz7wVb3KpLm9Rt2XcN8dFg4HjY6"
	r := makeSmoke(t, "HF_TOKEN="+secret, "FIXTURE_LEAK_CONFIG=HF_TOKEN", "TESTFLAGS=-run Test0[0-3]")
	reason := requireHalted(t, r, 3)
	require.Regexp(t, `^03-validate: \S+/config.resolved.yaml: model.pretrained_model_name_or_path: "https://hf-mirror\S+access_token=\[REDACTED:HF_TOKEN\]…, but \S+ sets "hf-internal-testing/tiny-stable-diffusion-pipe"$`, reason)
	for _, f := range []string{evidence.JUnitFile, evidence.JSONFile, evidence.ChecklistFile, evidence.ReportFile} {
		require.Contains(t, r.read(t, f), "access_token=[REDACTED:HF_TOKEN]", f)
	}
	requireNoSecretPart(t, r.out, secret, 6)
}

// A token saved inside a checkpoint is not copied into the evidence: the checkpoint is referenced
// by its sha256, with a reason that names the secret's variable, and the section's notes say so.
// Under -tags gpu that fails the section.
func TestSecretsInACheckpointAreNotCopied(t *testing.T) {
	const secret = "hf_Wm4Tq9ZrB2xKc7NvL5pGd8SyH3"
	t.Run("cpu", func(t *testing.T) {
		r := makeSmoke(t, "HF_TOKEN="+secret, "FIXTURE_LEAK_CHECKPOINT=HF_TOKEN", "TESTFLAGS=-run Test0[0-6]")
		require.Equal(t, evidence.ExitIncomplete, r.exit, "-run left sections out: INCOMPLETE; output:\n%s", r.tail())
		var info evidence.Run
		require.NoError(t, json.Unmarshal([]byte(r.read(t, evidence.RunFile)), &info))
		for _, name := range []string{"checkpoint-1.pt", "checkpoint-2.pt"} {
			require.NoFileExists(t, filepath.Join(r.out, "artifacts/04-train", name))
			ref, err := evidence.ReadRef(filepath.Join(r.out, "artifacts/04-train", name+evidence.RefSuffix))
			require.NoError(t, err)
			require.Contains(t, ref.Reason, "HF_TOKEN")
			orig := filepath.Join(info.DifftrainDir, "_tmp_run", name)
			sums, err := evidence.HashFiles(orig)
			require.NoError(t, err)
			require.Equal(t, sums[orig], ref.SHA256)
			require.Equal(t, orig, ref.Path)
		}
		require.Contains(t, r.notes("Test04Train"), "HF_TOKEN")
		require.Contains(t, r.read(t, evidence.ChecklistFile), "holds the value of HF_TOKEN")
		requireNoSecretPart(t, r.out, secret, 8)
	})
	t.Run("gpu", func(t *testing.T) {
		pretend, err := filepath.Abs("testdata/pretend-cuda")
		require.NoError(t, err)
		r := makeSmoke(t, "GPU=1", "FAKEGPU=1", "PYTHONPATH="+pretend, "HF_TOKEN="+secret, "FIXTURE_LEAK_CHECKPOINT=HF_TOKEN",
			"TESTFLAGS=-run Test0[0-5]")
		reason := requireHalted(t, r, 4)
		require.Regexp(t, `^04-train: \S+/checkpoint-1.pt holds the value of HF_TOKEN`, reason)
		require.FileExists(t, filepath.Join(r.out, "artifacts/04-train/checkpoint-1.pt"+evidence.RefSuffix))
		requireNoSecretPart(t, r.out, secret, 8)
	})
}

// A token that straddles the 400-byte cut of a live console line: the cut line leaked 36 of its
// 39 characters into go-test.json. A private key printed over several lines is one block.
func TestSecretsAcrossTheLiveLineCut(t *testing.T) {
	t.Run("a token across the cut", func(t *testing.T) {
		const secret = "hf_Jx8Rk2VmQ7bT4wZn9LcP3dG6sY5fH1aUqE" // 39 bytes
		r := makeSmoke(t, "HF_TOKEN="+secret, "FIXTURE_LEAK=HF_TOKEN", "FIXTURE_LEAK_AT=364", "TESTFLAGS=-run Test0[0-2]")
		require.Equal(t, evidence.ExitIncomplete, r.exit, "-run left sections out: INCOMPLETE; output:\n%s", r.tail())
		// The value starts at byte 364 of its line, so the 400-byte cut falls inside it.
		head := "[fixture] HF_TOKEN=" + strings.Repeat(".", 364-len("[fixture] HF_TOKEN="))
		require.Contains(t, r.read(t, "logs/02-dataset.log"), head+"[REDACTED:HF_TOKEN]\n")
		require.Contains(t, r.read(t, evidence.JSONFile), head, "the line is in the live stream")
		requireNoSecretPart(t, r.out, secret, 6)
	})
	t.Run("a private key over several lines", func(t *testing.T) {
		body := []string{
			"MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDZr9Kq2Vw7Mx4Tb8",
			"Nc3Lp6Gd1Hs5Fj0YuQeWm4Tq9ZrB2xKc7NvL5pGd8SyH3Jx8Rk2VmQ7bT4wZn9LcP3d",
		}
		pem := "-----BEGIN PRIVATE KEY-----\n" + strings.Join(body, "\n") + "\n-----END PRIVATE KEY-----"
		r := makeSmoke(t, "DEPLOY_PEM="+pem, "FIXTURE_LEAK=DEPLOY_PEM", "TESTFLAGS=-run Test0[0-2]")
		require.Equal(t, evidence.ExitIncomplete, r.exit, "-run left sections out: INCOMPLETE; output:\n%s", r.tail())
		require.Contains(t, r.read(t, "logs/02-dataset.log"), "[fixture] DEPLOY_PEM=[REDACTED:private-key]")
		for _, line := range body {
			requireNoSecretPart(t, r.out, line, 12)
		}
	})
}

// Unbounded reads: a 2 GiB env.json took smoke.test to 14.7 GB of memory. Every file the harness
// parses is bounded: a huge env.json fails its section with one line naming the file and the
// limit, and the suite's peak RSS (smoke.test and the largest of its children, as wait4 reports
// it) stays under 256 MiB. The env.json is sparse: it costs no disk.
func TestUnboundedReadsHugeEnvJSON(t *testing.T) {
	const huge = 512 << 20
	out := filepath.Join(t.TempDir(), "evidence")
	cmd := exec.Command(smokeBinary(t), "-test.v", "-test.run", "Test0[0-5]")
	cmd.Env = cleanEnv("SMOKE_OUT="+out, "TMPDIR="+t.TempDir(), fmt.Sprintf("FIXTURE_HUGE_ENV_JSON=%d", huge))
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, buf.String())
	require.Equal(t, 1, ee.ExitCode(), buf.String())
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	require.True(t, ok)
	peak := ru.Maxrss << 10 // KiB on Linux
	t.Logf("peak RSS of smoke.test (and its largest child) with a %d MiB env.json: %.1f MiB", huge>>20, float64(peak)/(1<<20))

	info, err := evidence.ReadRun(out)
	require.NoError(t, err)
	var got evidence.Section
	for _, s := range info.Sections {
		if s.ID() == "05-artifacts" {
			got = s
		}
	}
	require.Equal(t, evidence.Fail, got.Result, buf.String())
	require.Regexp(t, regexp.MustCompile(`^05-artifacts: read \S+/_tmp_run/env\.json: larger than \d+ bytes, the most the harness reads of it$`), got.Reason)
	st, err := os.Stat(filepath.Join(info.DifftrainDir, "_tmp_run", "env.json"))
	require.NoError(t, err)
	require.Equal(t, int64(huge), st.Size(), "the fixture wrote the huge env.json")
	require.Less(t, peak, int64(256<<20), "peak RSS")
}

// Issue 21's leaks, each reproduced through make smoke: then no 12 bytes in a row of a secret,
// in any form listed in secretForms, are in the evidence, go-test.json or the console.

// secretForms are the forms of a secret that logs carry: the value; URL-encoded; base64 and
// base64url of the value and of "user:value" (an HTTP Basic header); JSON with every character
// \u-escaped.
func secretForms(user, value string) []string {
	var u strings.Builder
	for _, c := range value {
		fmt.Fprintf(&u, `\u%04x`, c)
	}
	forms := []string{value, url.QueryEscape(value), url.PathEscape(value), u.String()}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		forms = append(forms, enc.EncodeToString([]byte(value)), enc.EncodeToString([]byte(user+":"+value)))
	}
	return forms
}

// requireNoSecretForms fails when the evidence or the console holds 12 bytes in a row of a form
// of value (all of a shorter one).
func requireNoSecretForms(t *testing.T, r smokeRun, user, value string) {
	t.Helper()
	for _, form := range secretForms(user, value) {
		n := min(12, len(form))
		requireNoSecretPart(t, r.out, form, n)
		for i := 0; i+n <= len(form); i++ {
			if j := strings.Index(r.output, form[i:i+n]); j >= 0 {
				t.Fatalf("the console holds %q of %q: ...%s...", form[i:i+n], form, r.output[max(0, j-60):min(len(r.output), j+n+60)])
			}
		}
	}
}

// 1. pytest's own JUnit: a failing test that shows a token, with junit_logging = all, left three
// raw copies in SMOKE_OUT/pytest/02-unit-lane.xml. pytest now writes it outside the evidence,
// and the harness copies it in through the redactor.
func TestSecretsInPytestsOwnJUnit(t *testing.T) {
	const token = "hf_Jx8Rk2VmQ7bT4wZn9LcP3dG6sY5fH1aUqE"
	r := makeSmoke(t, "SMOKE_PLAN=pytest-lanes", "SMOKE_PYTHON="+debianPython(t, "pytest"), "HF_TOKEN="+token,
		"FIXTURE_PYTEST_FAIL=test_smoke_config_values", "FIXTURE_PYTEST_FAIL_SHOWS=HF_TOKEN",
		"PYTEST_ADDOPTS=-o junit_logging=all", "TESTFLAGS=-run Test0[0-2]")
	reason := requireHaltedIn(t, r, laneSections, 2)
	require.Contains(t, reason, "tests.test_config::test_smoke_config_values: AssertionError: assert '[REDACTED:HF_TOKEN]'.startswith('nope_')")
	junit := r.read(t, evidence.PytestRel("02-unit-lane"))
	require.Equal(t, 3, strings.Count(junit, "[REDACTED:HF_TOKEN]"), "the message, the traceback and the captured output:\n%s", junit)
	require.NoError(t, xml.Unmarshal([]byte(junit), new(struct{})), "still XML")
	requireNoSecretForms(t, r, "smoke", token)
}

// 2. Moved leftovers: SMOKE_LEFTOVERS=move moved an earlier run's config.resolved.yaml and
// run_manifest.json, with the raw token, into leftovers/. They are redacted before they move;
// a binary one that holds a secret cannot be, and stops the run before anything moves.
func TestSecretsInMovedLeftovers(t *testing.T) {
	const token = "hf_Vq3Mz8Kt5Rw2Ly7Nc4Bx9Hp6Gd1Fj0SuTx"
	dir, env := fixtureCheckout(t)
	env = append(env, "HF_TOKEN="+token, "FIXTURE_LEAK_ARTIFACTS=HF_TOKEN")
	cfg := filepath.Join(dir, "_tmp_run", "config.resolved.yaml")
	t.Run("text files are redacted", func(t *testing.T) {
		r := makeSmoke(t, append(env, "TESTFLAGS=-run Test0[0-4]")...)
		require.Equal(t, evidence.ExitIncomplete, r.exit, "-run left sections out: INCOMPLETE; output:\n%s", r.tail())
		require.Contains(t, fileText(cfg), token, "the earlier run's config carries the token")
		r = makeSmoke(t, append(env, "SMOKE_LEFTOVERS=move", "TESTFLAGS=-run Test0[0-3]")...)
		require.Equal(t, evidence.ExitIncomplete, r.exit, "-run left sections out: INCOMPLETE; output:\n%s", r.tail())
		requireNoSecretForms(t, r, "smoke", token)
		require.Contains(t, r.read(t, "leftovers/difftrain/_tmp_run/config.resolved.yaml"), "# HF_TOKEN=[REDACTED:HF_TOKEN]")
		require.Contains(t, r.read(t, "leftovers/difftrain/_tmp_run/run_manifest.json"), "[REDACTED:HF_TOKEN]")
		requireValidJSON(t, r.out)
	})
	t.Run("a checkpoint that holds a secret stops the run", func(t *testing.T) {
		r := makeSmoke(t, append(env, "FIXTURE_LEAK_CHECKPOINT=HF_TOKEN", "SMOKE_LEFTOVERS=move", "TESTFLAGS=-run Test0[0-4]")...)
		require.Equal(t, evidence.ExitIncomplete, r.exit, "-run left sections out: INCOMPLETE; output:\n%s", r.tail())
		cmd := exec.Command("make", "--no-print-directory", "smoke")
		cmd.Env = cleanEnv(append(env, "SMOKE_LEFTOVERS=move", "SMOKE_OUT="+filepath.Join(t.TempDir(), "out"), "TMPDIR="+t.TempDir())...)
		out, err := cmd.CombinedOutput()
		require.NotContains(t, string(out), token)
		require.Error(t, err, "%s", out)
		require.Regexp(t, `smoke: SMOKE_LEFTOVERS=move: \S+/_tmp_run/checkpoint-1.pt holds the value of HF_TOKEN: a binary file cannot be redacted; move it out of \S+/_tmp_run yourself\n`, string(out))
		require.Contains(t, fileText(cfg), token, "nothing was redacted or moved")
	})
}

// 3. Secrets in other shapes: all of these reached logs/04-train.log, go-test.json and the
// console with no REDACTED marker.
func TestSecretsInOtherForms(t *testing.T) {
	const token = "hf_Wm4Tq9ZrB2xKc7NvL5pGd8SyH3aUqEx"
	const password = "Tr0ub4dor&3:horse/battery+staple"
	r := makeSmoke(t, "HF_TOKEN="+token, "DB_PASSWORD="+password, "FIXTURE_LEAK_FORMS=DB_PASSWORD,HF_TOKEN", "TESTFLAGS=-run Test0[0-4]")
	require.Equal(t, evidence.ExitIncomplete, r.exit, "-run left sections out: INCOMPLETE; output:\n%s", r.tail())
	log := r.read(t, "logs/04-train.log")
	for _, want := range []string{
		"[fixture] DB_PASSWORD url-encoded: [REDACTED:DB_PASSWORD]\n",
		"[fixture] DB_PASSWORD header: Authorization: Basic [REDACTED:basic-auth]\n",
		"[fixture] DB_PASSWORD in two parts: [REDACTED:DB_PASSWORD]\n[REDACTED:DB_PASSWORD]\n",
		"[fixture] DB_PASSWORD cut: [REDACTED:DB_PASSWORD]...\n",
		`[fixture] DB_PASSWORD as JSON: {"token": "[REDACTED:DB_PASSWORD]"}` + "\n",
		"[fixture] HF_TOKEN as JSON: {\"token\": \"[REDACTED:HF_TOKEN]\"}\n",
	} {
		require.Contains(t, log, want)
	}
	require.Contains(t, r.output, "[fixture] HF_TOKEN in two parts: [REDACTED:HF_TOKEN]", "the console, line by line")
	requireNoSecretForms(t, r, "smoke", token)
	requireNoSecretForms(t, r, "smoke", password)
}

// 4. Credentials inside URLs: repro.env held the passwords in PIP_EXTRA_INDEX_URL, HTTPS_PROXY,
// MLFLOW_TRACKING_URI and HF_ENDPOINT (the last also in run.json and report.md), whose names
// are not secret-like.
func TestSecretsInURLs(t *testing.T) {
	urls := map[string][2]string{ // name: user, password
		"PIP_EXTRA_INDEX_URL": {"pipuser", "Pq7Lm2Xv9Rt4"},
		"HTTPS_PROXY":         {"proxyuser", "Kd3Wn8Zs5Hb1"},
		"MLFLOW_TRACKING_URI": {"mlf", "Yc6Tg1Vq8Nm3"},
		"HF_ENDPOINT":         {"hfu", "Jr5Bx2Lp9Fw7"},
	}
	env := []string{"FIXTURE_FAIL=train_text_to_image", "TESTFLAGS=-run Test0[0-4]", "NO_PROXY=*", "no_proxy=*"}
	for name, cred := range urls {
		env = append(env, name+"=https://"+cred[0]+":"+cred[1]+"@"+strings.ToLower(name)+".internal/x")
	}
	r := makeSmoke(t, env...)
	requireHalted(t, r, 4)
	for _, cred := range urls {
		requireNoSecretForms(t, r, cred[0], cred[1])
	}
	repro := r.read(t, evidence.ReproEnvFile)
	for name := range urls {
		require.Regexp(t, `secrets\+=\("`+name+`=\$\{`+name+`:\?`, r.read(t, evidence.ReproFile), "repro.sh asks for %s, redacted in part", name)
		require.NotContains(t, repro, name+"=", "repro.env leaves %s to repro.sh", name)
	}
	require.Contains(t, r.read(t, evidence.ReportFile), "hf_endpoint.internal")
	require.Contains(t, r.read(t, evidence.RunFile), "hf_endpoint.internal")
}

package gpusmoke_test

// The README and docs/ as a newcomer reads them (issue 20, items 18-22; issue 19's Layout): the
// first screen holds the commands, links resolve, the Layout names every folder, every setting
// and every evidence file is documented, examples come from a user's machine, and nothing in the
// project points outside the repository.

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/evidence"
)

// readDoc is a file of the repository as text.
func readDoc(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return string(b)
}

// docFiles are README.md and every page of docs/.
func docFiles(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob("docs/*.md")
	require.NoError(t, err)
	return append([]string{"README.md"}, pages...)
}

// section is the text of a markdown section whose "## " heading contains title, up to the next
// heading of that level; "" when there is none.
func section(doc, title string) string {
	for _, s := range strings.Split("\n"+doc, "\n## ")[1:] {
		if heading, _, _ := strings.Cut(s, "\n"); strings.Contains(heading, title) {
			return s
		}
	}
	return ""
}

// The first screen says what the project is and gives the commands: the apt-get line a fresh
// Debian needs, make smoke and make test, and the instance's three ways in. The README stays
// short: reference material lives in docs/.
func TestReadmeFirstScreen(t *testing.T) {
	lines := strings.Split(readDoc(t, "README.md"), "\n")
	require.Less(t, len(lines), 260, "README.md has %d lines: move reference material into docs/", len(lines))
	first := strings.Join(lines[:min(40, len(lines))], "\n")
	for _, cmd := range []string{`(sudo )?apt-get install .*python3.*`, `make smoke\b.*`, `make test\b.*`,
		`DIFFTRAIN_DIR=.* GPU=1 make smoke`, `DIFFTRAIN_DIR=.* go test .*\./smoke -tags gpu`, `DIFFTRAIN_DIR=.*/run-smoke`} {
		line := regexp.MustCompile(`(?m)^` + cmd + `$`)
		require.True(t, line.MatchString(first), "README.md's first 40 lines have no line %s", cmd)
	}
	require.Equal(t, aptPackages(t, readDoc(t, ".ci/run")), aptPackages(t, first), "README.md's apt-get line installs what .ci/run does")
}

// aptPackages are the packages of the first apt-get install line of text, sorted.
func aptPackages(t *testing.T, text string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(text, "apt-get install ")
	require.True(t, ok, "an apt-get install line")
	line, _, _ := strings.Cut(rest, "\n")
	var pkgs []string
	for _, w := range strings.Fields(line) {
		if strings.HasPrefix(w, "-") || strings.ContainsAny(w, ">&|") {
			continue
		}
		pkgs = append(pkgs, w)
	}
	slices.Sort(pkgs)
	return pkgs
}

// prose is a markdown text without its fenced blocks.
func prose(md string) string {
	parts := strings.Split(md, "```")
	for i := 1; i < len(parts); i += 2 {
		parts[i] = ""
	}
	return strings.Join(parts, "")
}

// The design card's own command is explained where it is given: go test hides a passing
// package's output without -v, and its default -timeout of 10 minutes is shorter than the plan.
func TestReadmeExplainsPlainGoTest(t *testing.T) {
	s := section(readDoc(t, "README.md"), "go test ./smoke")
	require.NotEmpty(t, s, `README.md has a section titled with "go test ./smoke"`)
	for _, want := range []string{"`-v`", "`-timeout 0`", "10 minutes", "evidence"} {
		require.True(t, strings.Contains(prose(s), want), "README.md's go test section does not say %s", want)
	}
}

// lineWith is the first line of text that contains s, "" when none does.
func lineWith(text, s string) string {
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

// mdLink is a markdown link's target.
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// Every relative link of README.md and docs/ leads to a file of the repository, and every page
// of docs/ is linked from the README.
func TestDocsLinksResolve(t *testing.T) {
	root, err := os.Getwd()
	require.NoError(t, err)
	readme := readDoc(t, "README.md")
	for _, f := range docFiles(t) {
		for _, m := range mdLink.FindAllStringSubmatch(readDoc(t, f), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			p := filepath.Join(filepath.Dir(f), target)
			rel, err := filepath.Rel(root, filepath.Join(root, p))
			require.NoError(t, err)
			require.False(t, strings.HasPrefix(rel, ".."), "%s links to %s, outside the repository", f, m[1])
			_, err = os.Stat(p)
			require.NoError(t, err, "%s links to %s", f, m[1])
		}
		if f != "README.md" {
			require.Contains(t, readme, "]("+filepath.ToSlash(f)+")", "README.md links to %s", f)
		}
	}
}

// The README's Layout names every folder of the repository, so that a newcomer can tell where a
// new check, a new document or a new scheduler goes.
func TestReadmeLayoutNamesEveryFolder(t *testing.T) {
	layout := section(readDoc(t, "README.md"), "Layout")
	require.NotEmpty(t, layout, "README.md has a Layout section")
	var folders []string
	for _, f := range strings.Split(gitOut(t, "ls-files"), "\n") {
		if dir, _, ok := strings.Cut(f, "/"); ok && !strings.HasPrefix(dir, ".") && !slices.Contains(folders, dir) {
			folders = append(folders, dir)
		}
	}
	require.Contains(t, folders, "smoke")
	for _, dir := range folders {
		row := regexp.MustCompile("(?m)^\\| [^|]*`" + regexp.QuoteMeta(dir) + "/")
		require.True(t, row.MatchString(layout), "README.md's Layout table has no row for %s/", dir)
	}
}

// Nothing in the project points outside the repository: a clone or a bundle has only what is
// tracked (issue 20, item 20).
func TestNothingPointsOutsideTheRepository(t *testing.T) {
	outside := []string{".." + "/shared", "/" + "work/"} // spelt apart, so that this file does not name them
	for _, f := range strings.Split(gitOut(t, "ls-files"), "\n") {
		b, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue // deleted in the work tree, not yet in the index
		}
		require.NoError(t, err)
		for _, s := range outside {
			require.Empty(t, lineWith(string(b), s), "%s points outside the repository", f)
		}
	}
}

// Examples show what a user would see, not a developer's machine (issue 20, item 22).
func TestDocsShowAUsersMachine(t *testing.T) {
	for _, f := range strings.Split(gitOut(t, "ls-files", "*.md"), "\n") {
		text := readDoc(t, f)
		for _, s := range []string{".pyenv", "/root/"} {
			require.Empty(t, lineWith(text, s), "%s shows a developer's machine", f)
		}
	}
}

// makeVar is a variable the Makefile reads: $(NAME).
var makeVar = regexp.MustCompile(`\$\(([A-Z][A-Z0-9_]*)\)`)

// makeOwn is a variable the Makefile sets itself (NAME :=), which no one sets from outside.
var makeOwn = regexp.MustCompile(`(?m)^([A-Z][A-Z0-9_]*) :=`)

// docs/settings.md documents every setting, each in a row of its own: each of the harness's
// variables (evidence.Vars), DIFFTRAIN_DIR, and each variable the Makefile reads from the
// command line or the environment.
func TestDocsSettingsNameEverySetting(t *testing.T) {
	doc := readDoc(t, "docs/settings.md")
	names := []string{"DIFFTRAIN_DIR"}
	for _, v := range evidence.Vars {
		names = append(names, v.Name)
	}
	mk := readDoc(t, "Makefile")
	own := []string{"CURDIR", "MAKE", "SHELL"}
	for _, m := range makeOwn.FindAllStringSubmatch(mk, -1) {
		own = append(own, m[1])
	}
	for _, m := range makeVar.FindAllStringSubmatch(mk, -1) {
		if !slices.Contains(own, m[1]) {
			names = append(names, m[1])
		}
	}
	require.Contains(t, names, "TESTFLAGS")
	for _, n := range names {
		row := regexp.MustCompile("(?m)^\\| [^|]*`" + regexp.QuoteMeta(n) + "`")
		require.True(t, row.MatchString(doc), "docs/settings.md has no row for %s", n)
	}
}

// docs/evidence.md's layout names every entry of the evidence directory (evidence/layout.go),
// repro.env included (issue 20, item 18).
func TestDocsEvidenceLayoutNamesEveryFile(t *testing.T) {
	doc := readDoc(t, "docs/evidence.md")
	_, rest, ok := strings.Cut(doc, "```\nSMOKE_OUT/\n")
	require.True(t, ok, "docs/evidence.md opens its layout with a block that starts SMOKE_OUT/")
	block, _, _ := strings.Cut(rest, "```")
	for _, name := range []string{evidence.RunFile, evidence.JUnitFile, evidence.JSONFile, evidence.GPUEnvFile,
		evidence.NvidiaSMIFile, evidence.TelemetryFile, evidence.LogsDir, evidence.PytestDir, evidence.CopiesDir,
		evidence.ReproFile, evidence.ReproEnvFile, evidence.LeftoversDir, evidence.ChecklistFile, evidence.ReportFile,
		evidence.SummaryFile, evidence.PromFile, evidence.TelemetrySVGFile, evidence.TemplateFile, evidence.SumsFile,
		evidence.SpecialsFile, evidence.WorkspaceDir, evidence.LockFile, evidence.ReserveFile} {
		line := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(name) + `[/ ]`)
		require.True(t, line.MatchString(block), "docs/evidence.md's layout does not name %s", name)
	}
}

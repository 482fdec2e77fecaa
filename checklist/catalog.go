package checklist

import (
	"github.com/difftrain/gpusmoke/artifacts"
	"github.com/difftrain/gpusmoke/runbook"
)

// catalogEntry is one section of the runbook as the checklist shows it when the run did not
// record it (a section absent from junit.xml) or recorded only part of it.
type catalogEntry struct {
	Number   string
	Name     string
	Title    string
	Command  string // the runbook's command; empty for sections that run no command
	Expected string
	Optional bool
}

// catalog is the runbook's nine sections, in runbook order, from the embedded plan.
var catalog = func() []catalogEntry {
	var out []catalogEntry
	for _, st := range runbook.Default().Steps {
		cmd := ""
		if len(st.Command) > 0 {
			cmd = artifacts.Quote(st.Command)
		}
		out = append(out, catalogEntry{st.Section, st.Name, st.Title, cmd, st.Expected, st.Optional})
	}
	return out
}()

// artifactSection is the section that checks difftrain's output files; a template row whose
// command cell only names those files is matched to it.
const artifactSection = "05"

// runbookArtifacts are the files the runbook's step 5 lists.
var runbookArtifacts = []string{"env.json", "config.resolved.yaml", "run_manifest.json", "checkpoint-1.pt", "checkpoint-2.pt"}

func lookupCatalog(number string) (catalogEntry, bool) {
	for _, c := range catalog {
		if c.Number == number {
			return c, true
		}
	}
	return catalogEntry{}, false
}

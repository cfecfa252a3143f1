package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/plaidstream/plaidstream"

type pkg struct {
	ImportPath string
	Doc        string
	Imports    []string
	Deps       []string
}

// listPackages runs `go list -json` over the whole module.
func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(out)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// TestDependencyDirection keeps the arrows pointing inward: the contract
// (events), the verifier and the Plaid client depend on no other package of
// ours, so any binary or consumer can use them alone.
func TestDependencyDirection(t *testing.T) {
	leaves := map[string]bool{
		module + "/internal/events": true,
		module + "/internal/verify": true,
		module + "/internal/plaid":  true,
	}
	seen := 0
	for _, p := range listPackages(t) {
		if !leaves[p.ImportPath] {
			continue
		}
		seen++
		for _, d := range p.Deps {
			if strings.HasPrefix(d, module+"/") {
				t.Errorf("%s depends on %s; it must not depend on other internal packages", p.ImportPath, d)
			}
		}
	}
	if seen != len(leaves) {
		t.Errorf("found %d of the %d guarded packages", seen, len(leaves))
	}
}

// TestEventsIsStdlibOnly keeps the wire contract free of transports.
func TestEventsIsStdlibOnly(t *testing.T) {
	for _, p := range listPackages(t) {
		if p.ImportPath != module+"/internal/events" {
			continue
		}
		for _, d := range p.Deps {
			if first := strings.SplitN(d, "/", 2)[0]; strings.Contains(first, ".") {
				t.Errorf("internal/events depends on %s; it must use only the standard library", d)
			}
		}
		return
	}
	t.Fatal("internal/events not found")
}

// TestEveryPackageHasADocComment: a newcomer reads the package list first.
func TestEveryPackageHasADocComment(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no package doc comment", p.ImportPath)
		}
	}
}

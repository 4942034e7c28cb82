package lab_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipipd/ipipd/internal/lab"
)

func TestModuleRoot(t *testing.T) {
	root, err := lab.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "ipipd")); err != nil {
		t.Errorf("ModuleRoot = %s, which has no cmd/ipipd: %v", root, err)
	}
}

func TestModuleRootOutside(t *testing.T) {
	t.Chdir(t.TempDir())
	if _, err := lab.ModuleRoot(); err == nil || !strings.Contains(err.Error(), "not inside the ipipd module") {
		t.Errorf("outside the module: %v, want an error saying so", err)
	}
}

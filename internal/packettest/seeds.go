package packettest

import (
	"testing"

	"github.com/ipipd/ipipd/internal/hexfile"
)

// AddSeeds hands add every commented hex packet under the package's
// testdata/seeds, for add to put into the fuzz corpus with the target's
// other arguments; each file says in its comment what it exercises.
func AddSeeds(f *testing.F, add func(pkt []byte)) {
	f.Helper()
	seeds, err := hexfile.Glob("testdata/seeds/*.hex")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		add(s.Bytes)
	}
}

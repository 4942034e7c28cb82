// Command outergso asks whether the kernel segments (or carries whole) an
// IPIP super-packet that userspace hands it, and measures the variant that
// works against sendmmsg on the raw and packet sockets. Root only; it
// creates two namespaces joined by a veth and removes them. See README.md.
package main

import (
	"flag"
	"time"

	lab "github.com/ipipd/ipipd/bench/cmd/outerlab"
)

func main() {
	mode := flag.String("mode", "probe", "probe: what the kernel does with each variant; measure: throughput and CPU, interleaved")
	dur := flag.Duration("duration", 2*time.Second, "measure: length of one case")
	reps := flag.Int("reps", 3, "measure: repetitions of every case")
	cases := flag.String("cases", "raw,raw-blocking,packet,gso,gso-sw", "measure: cases, comma-separated")
	subnet := flag.Int("subnet", 231, "the third octet of 10.245.x.0/24 between the namespaces (x+1 for the TUN)")
	flag.Parse()
	limit := 2*time.Minute + time.Duration(*reps)*10*(*dur+time.Second)
	l, err := lab.New("outergso", *subnet, limit)
	if err != nil {
		lab.Fatal("%v", err)
	}
	defer l.Close()
	switch *mode {
	case "probe":
		probe(l)
	case "measure":
		measure(l, *cases, *dur, *reps)
	default:
		l.Close()
		lab.Fatal("unknown -mode %q", *mode)
	}
}

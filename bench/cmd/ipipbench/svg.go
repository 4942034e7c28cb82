package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Chart geometry, in SVG user units (pixels).
const (
	svgWidth    = 860
	svgLeft     = 130 // room for the case names
	svgRight    = 90  // room for the last value label
	svgTop      = 70  // title and legend
	svgBar      = 18
	svgBarGap   = 4
	svgGroupGap = 22
	svgAxis     = 40 // tick labels and axis title below the bars
)

// The two series: TCP single stream and 4 streams.
var svgSeries = []struct {
	metric, label, color string
}{
	{mTCP1, "TCP, 1 stream", "#3b6ea8"},
	{mTCP4, "TCP, 4 streams", "#e08a2c"},
}

// svgChart draws TCP throughput per case as horizontal bars: the median,
// a whisker from min to max, and the value; failed cases say so.
func svgChart(res *results) string {
	sums := summarizeCases(res)
	group := len(svgSeries)*(svgBar+svgBarGap) - svgBarGap
	plotH := len(sums)*(group+svgGroupGap) - svgGroupGap
	height := svgTop + plotH + svgAxis + 10
	plotW := float64(svgWidth - svgLeft - svgRight)

	max := 0.0
	for _, cs := range sums {
		for _, s := range svgSeries {
			if m := cs.metric(s.metric); m.ok() {
				max = math.Max(max, m.Max)
			}
		}
	}
	step, top := ticks(max)
	x := func(v float64) float64 { return svgLeft + v/top*plotW }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	title := fmt.Sprintf("ipipd end-to-end: TCP throughput (Gbit/s), median of %d rep(s), %d s each; whiskers min–max", res.Meta.Reps, res.Meta.Seconds)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", 10, esc(title))
	sub := fmt.Sprintf("%s, %d CPUs, %s", res.Meta.Kernel, res.Meta.CPUs, res.Meta.Started.Format("2006-01-02 15:04 UTC"))
	if med, _, ok := otherLoad(res); ok {
		sub += fmt.Sprintf("; other processes used %.2f CPUs during a test (median)", med)
	}
	fmt.Fprintf(&b, `<text x="%d" y="40" fill="#555">%s</text>`+"\n", 10, esc(sub))
	for i, s := range svgSeries {
		lx := svgLeft + i*160
		fmt.Fprintf(&b, `<rect x="%d" y="50" width="12" height="12" fill="%s"/><text x="%d" y="60">%s</text>`+"\n", lx, s.color, lx+16, esc(s.label))
	}

	// Grid lines and tick labels.
	axisY := svgTop + plotH + 6
	for v := 0.0; v <= top+step/2; v += step {
		xv := x(v)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", xv, svgTop-6, xv, axisY)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#333">%s</text>`+"\n", xv, axisY+16, trimFloat(v))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", svgLeft, axisY, svgWidth-svgRight, axisY)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", svgLeft, svgTop-6, svgLeft, axisY)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">Gbit/s (received, iperf3)</text>`+"\n", svgLeft+plotW/2, axisY+34)

	for i, cs := range sums {
		gy := svgTop + i*(group+svgGroupGap)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" font-weight="bold">%s</text>`+"\n", svgLeft-8, gy+group/2+4, esc(cs.name))
		if !cs.metric(mTCP1).ok() && !cs.metric(mTCP4).ok() {
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#b00">%s</text>`+"\n", svgLeft+8, gy+group/2+4, esc(shorten("failed: "+cs.failure(), 100)))
			continue
		}
		for j, s := range svgSeries {
			y := gy + j*(svgBar+svgBarGap)
			m := cs.metric(s.metric)
			if !m.ok() {
				fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#b00">%s: failed</text>`+"\n", svgLeft+8, y+svgBar-5, esc(s.label))
				continue
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s %s: median %.2f, min %.2f, max %.2f Gbit/s</title></rect>`+"\n",
				svgLeft, y, x(m.Median)-svgLeft, svgBar, s.color, esc(cs.name), esc(s.label), m.Median, m.Min, m.Max)
			if m.N > 1 {
				cy := float64(y) + svgBar/2
				fmt.Fprintf(&b, `<path d="M%.1f %.1fH%.1fM%.1f %.1fV%.1fM%.1f %.1fV%.1f" stroke="#222" fill="none"/>`+"\n",
					x(m.Min), cy, x(m.Max), x(m.Min), cy-4, cy+4, x(m.Max), cy-4, cy+4)
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%d">%.2f</text>`+"\n", x(math.Max(m.Max, m.Median))+6, y+svgBar-5, m.Median)
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// ticks picks the smallest step of 1, 2 or 5 × 10^k that covers max in
// at most 7 intervals, and the axis end, a whole number of steps ≥ max.
func ticks(max float64) (step, top float64) {
	if max <= 0 || math.IsNaN(max) {
		return 1, 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(max/7)))
	for _, m := range []float64{1, 2, 5, 10} {
		if step = m * mag; math.Ceil(max/step-1e-9) <= 7 {
			break
		}
	}
	return step, math.Ceil(max/step-1e-9) * step
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

func esc(s string) string { return html.EscapeString(s) }

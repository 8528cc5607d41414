package bench

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Bar is one row of a chart: a median with its p10–p90 whisker, or an n/a
// row with its reason.
type Bar struct {
	Label            string
	Median, P10, P90 float64
	NA               string
	// Highlight draws the bar in the accent colour (prison's own rows).
	Highlight bool
}

// Bars returns one Bar per contender of res, on its headline metric;
// contenders whose name starts with highlight are accented.
func (res *Result) Bars(highlight string) []Bar {
	var bars []Bar
	for _, sr := range res.Series {
		b := Bar{Label: sr.Contender.Name, Highlight: strings.HasPrefix(sr.Contender.Name, highlight)}
		sum := sr.Summary("")
		switch {
		case sr.Contender.NA != "":
			b.NA = "n/a"
		case sum.N == 0:
			b.NA = "n/a: no samples"
		default:
			b.Median, b.P10, b.P90 = sum.Median, sum.P10, sum.P90
		}
		bars = append(bars, b)
	}
	return bars
}

// Chart geometry, in SVG user units (px).
const (
	chartWidth = 850
	labelWidth = 300 // left column with the contender names ("prison --net none --userns host (no daemon)")
	valueRoom  = 90  // right of the longest whisker, for its label
	rowHeight  = 30
	barHeight  = 16
	topMargin  = 56
	axisRoom   = 34
)

// BarChartSVG draws bars as a horizontal bar chart with p10–p90 whiskers,
// each labelled with its median, as a standalone SVG document. It is hand
// written (no dependency) and deterministic, so regenerating it with the
// same numbers gives the same bytes.
func BarChartSVG(title, subtitle, unit string, bars []Bar) string {
	plotW := float64(chartWidth - labelWidth - valueRoom)
	hi := 0.0
	for _, b := range bars {
		if b.NA == "" {
			hi = math.Max(hi, math.Max(b.P90, b.Median))
		}
	}
	step, top := niceScale(hi)
	x := func(v float64) float64 { return labelWidth + plotW*v/top }
	height := topMargin + rowHeight*len(bars) + axisRoom

	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="13">`+"\n",
		chartWidth, height, chartWidth, height)
	fmt.Fprintf(&s, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", chartWidth, height)
	fmt.Fprintf(&s, `<text x="12" y="22" font-size="15" font-weight="600" fill="#1f2328">%s</text>`+"\n", html.EscapeString(title))
	fmt.Fprintf(&s, `<text x="12" y="41" font-size="12" fill="#59636e">%s</text>`+"\n", html.EscapeString(subtitle))

	plotBottom := topMargin + rowHeight*len(bars)
	for i := range int(math.Round(top/step)) + 1 {
		v := float64(i) * step
		fmt.Fprintf(&s, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#d1d9e0" stroke-width="1"/>`+"\n", x(v), topMargin-4, x(v), plotBottom)
		fmt.Fprintf(&s, `<text x="%.1f" y="%d" font-size="11" fill="#59636e" text-anchor="middle">%s</text>`+"\n", x(v), plotBottom+16, tick(v, step))
	}
	fmt.Fprintf(&s, `<text x="%.1f" y="%d" font-size="11" fill="#59636e" text-anchor="middle">%s</text>`+"\n", labelWidth+plotW/2, plotBottom+30, html.EscapeString(unit))

	for i, b := range bars {
		y := float64(topMargin + rowHeight*i)
		mid := y + rowHeight/2
		fmt.Fprintf(&s, `<text x="%d" y="%.1f" fill="#1f2328" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", labelWidth-10, mid, html.EscapeString(b.Label))
		if b.NA != "" {
			fmt.Fprintf(&s, `<text x="%d" y="%.1f" fill="#818b98" font-style="italic" dominant-baseline="middle">%s</text>`+"\n", labelWidth+6, mid, html.EscapeString(b.NA))
			continue
		}
		fill := "#8c959f"
		if b.Highlight {
			fill = "#0969da"
		}
		fmt.Fprintf(&s, `<rect x="%d" y="%.1f" width="%.1f" height="%d" fill="%s" rx="2"/>`+"\n", labelWidth, mid-barHeight/2, x(b.Median)-labelWidth, barHeight, fill)
		// The whisker: p10 to p90, with end caps.
		fmt.Fprintf(&s, `<path d="M%.1f %.1fH%.1fM%.1f %.1fV%.1fM%.1f %.1fV%.1f" stroke="#1f2328" stroke-width="1.2" fill="none"/>`+"\n",
			x(b.P10), mid, x(b.P90), x(b.P10), mid-5, mid+5, x(b.P90), mid-5, mid+5)
		fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" fill="#1f2328" dominant-baseline="middle">%s %s</text>`+"\n",
			math.Max(x(b.P90), x(b.Median))+8, mid, num(b.Median), html.EscapeString(unit))
	}
	s.WriteString("</svg>\n")
	return s.String()
}

// niceScale picks a tick step of 1, 2 or 5 times a power of ten giving
// about five ticks, and the axis end: the first tick at or above hi.
func niceScale(hi float64) (step, top float64) {
	if !(hi > 0) {
		return 1, 1
	}
	raw := hi / 5
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	step = 10 * p
	for _, m := range []float64{1, 2, 5} {
		if m*p >= raw {
			step = m * p
			break
		}
	}
	return step, step * math.Ceil(hi/step)
}

// tick formats an axis value with as many decimals as step needs.
func tick(v, step float64) string {
	d := max(0, int(math.Ceil(-math.Log10(step))))
	return fmt.Sprintf("%.*f", d, v)
}

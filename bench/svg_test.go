package bench

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestBarChartSVG(t *testing.T) {
	bars := fakeResult().Bars("prison")
	svg := BarChartSVG("Start-up <true>", "median", "ms", bars)
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
	}
	for _, want := range []string{
		"Start-up &lt;true&gt;",
		">prison</text>",
		">2.50 ms</text>",
		">runc</text>",
		">n/a</text>",
		`fill="#0969da"`, // prison is highlighted
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	if BarChartSVG("Start-up <true>", "median", "ms", bars) != svg {
		t.Error("the same numbers gave different SVGs")
	}
}

func TestNiceScale(t *testing.T) {
	tests := []struct{ hi, step, top float64 }{
		{29.2, 10, 30},
		{4.03, 1, 5},
		{0.7, 0.2, 0.8},
		{0, 1, 1},
	}
	for _, tt := range tests {
		step, top := niceScale(tt.hi)
		if step != tt.step || top != tt.top {
			t.Errorf("niceScale(%v) = %v, %v; want %v, %v", tt.hi, step, top, tt.step, tt.top)
		}
	}
}

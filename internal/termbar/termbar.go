// Package termbar draws a transfer's progress on a terminal, and sizes as
// docker prints them.
package termbar

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// Bar draws progress on one terminal line that it rewrites, ten times a
// second at most.
type Bar struct {
	w     io.Writer
	label string
	last  time.Time
	drawn bool
}

// New returns a bar for w if w is a terminal, else nil (whose methods do
// nothing): a transfer into a pipe or a log is quiet.
func New(w io.Writer, label string) *Bar {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &Bar{w: w, label: label}
}

// Update draws done of total bytes.
func (b *Bar) Update(done, total int64) {
	if b == nil || total == 0 || (time.Since(b.last) < 100*time.Millisecond && done < total) {
		return
	}
	b.last = time.Now()
	const width = 30
	filled := int(done * width / total)
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", width-filled)
	if filled < width {
		bar = bar[:filled] + ">" + bar[filled+1:]
	}
	fmt.Fprintf(b.w, "\r%s [%s] %s / %s\x1b[K", b.label, bar, Size(done), Size(total))
	b.drawn = true
}

// Finish clears the bar's line.
func (b *Bar) Finish() {
	if b != nil && b.drawn {
		fmt.Fprint(b.w, "\r\x1b[K")
	}
}

// Size is a size as docker prints it: decimal units, three digits.
func Size(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%.3g%s", f, units[i])
}

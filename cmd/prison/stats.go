package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"text/tabwriter"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"prison/prison"
)

// statsRow is one jail's figures, with its CPU use over the last interval.
type statsRow struct {
	prison.Stats
	CPUPercent float64 `json:"cpuPercent"` // of one core: 200 is two cores busy
}

func newStatsCmd() *cobra.Command {
	var asJSON bool
	var watch bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "stats [--json] [--watch] [NAME...]",
		Short: "Show the jails' use of CPU, memory, processes, disk and network (rctl -u)",
		Long: `Show what each running jail uses, from its cgroup and its network namespace:
CPU time and current use (percent of one core, over --interval), memory in
use, its peak and its limit, processes and threads with their limit, bytes
read from and written to block devices, and bytes received and sent on the
jail's interfaces (- for a jail on the host's network). Without NAME, every
running jail. --watch refreshes in place, like top, until interrupted.`,
		Example: `  prison stats
  prison stats --json web1 | jq .memory
  prison stats --watch`,
		RunE: func(cmd *cobra.Command, names []string) error {
			out := cmd.OutOrStdout()
			if interval <= 0 {
				return &prison.ParamError{Err: fmt.Errorf("--interval %v: want a positive duration", interval)}
			}
			prev, err := sample(names)
			if err != nil {
				return err
			}
			if !watch {
				time.Sleep(interval)
				rows, err := measure(names, prev, interval)
				if err != nil {
					return err
				}
				return printStats(out, rows, asJSON)
			}
			stop := make(chan os.Signal, 1)
			signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(stop)
			tty := false
			if f, ok := out.(*os.File); ok {
				tty = term.IsTerminal(int(f.Fd()))
			}
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return nil
				case <-tick.C:
				}
				rows, err := measure(names, prev, interval)
				if err != nil {
					return err
				}
				if tty {
					fmt.Fprint(out, "\x1b[H\x1b[2J") // home, clear: in place, as top
				}
				if err := printStats(out, rows, asJSON); err != nil {
					return err
				}
				prev = map[string]prison.Stats{}
				for _, r := range rows {
					prev[r.Name] = r.Stats
				}
			}
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: one array per refresh")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "refresh every --interval until interrupted")
	cmd.Flags().DurationVarP(&interval, "interval", "i", time.Second, "how long CPU use is measured over, and the refresh")
	return cmd
}

// sample reads the figures of the jails named (every running jail when
// none), keyed by name.
func sample(names []string) (map[string]prison.Stats, error) {
	var jails []*prison.Running
	if len(names) == 0 {
		all, err := prison.List()
		if err != nil {
			return nil, err
		}
		jails = all
	} else {
		for _, n := range names {
			r, err := prison.Find(n)
			if err != nil {
				for _, j := range jails {
					j.Close()
				}
				return nil, err
			}
			jails = append(jails, r)
		}
	}
	out := map[string]prison.Stats{}
	var errs []error
	for _, j := range jails {
		s, err := j.Stats()
		j.Close()
		var nj *prison.NoJailError
		switch {
		case errors.As(err, &nj) && len(names) == 0:
			// Stopped since the list was made.
		case err != nil:
			errs = append(errs, err)
		default:
			out[j.Name] = *s
		}
	}
	return out, errors.Join(errs...)
}

// measure samples again and works out CPU use since prev, in JID order.
func measure(names []string, prev map[string]prison.Stats, over time.Duration) ([]statsRow, error) {
	now, err := sample(names)
	if err != nil {
		return nil, err
	}
	var rows []statsRow
	for _, s := range now {
		r := statsRow{Stats: s}
		if p, ok := prev[s.Name]; ok && s.CPU >= p.CPU {
			r.CPUPercent = float64(s.CPU-p.CPU) / float64(over) * 100
		}
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b statsRow) int { return cmp.Compare(a.JID, b.JID) })
	return rows, nil
}

func printStats(out io.Writer, rows []statsRow, asJSON bool) error {
	if asJSON {
		if rows == nil {
			rows = []statsRow{}
		}
		return json.NewEncoder(out).Encode(rows)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tJID\tCPU%\tCPU TIME\tMEMORY\tPEAK\tLIMIT\tPIDS\tLIMIT\tDISK READ\tDISK WRITE\tNET IN\tNET OUT")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%d\t%.1f\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n",
			r.Name, r.JID, r.CPUPercent, r.CPU.Round(10*time.Millisecond),
			size(int64(r.Memory)), size(int64(r.MemoryPeak)), limit(int64(r.MemoryLimit), true),
			r.Pids, limit(int64(r.PidsLimit), false),
			size(int64(r.IORead)), size(int64(r.IOWrite)), size(r.NetRx), size(r.NetTx))
	}
	return w.Flush()
}

// size is a byte count for people; - when unknown.
func size(n int64) string {
	if n < 0 {
		return "-"
	}
	return units.BytesSize(float64(n))
}

// limit is a limit for people: - when there is none.
func limit(n int64, bytes bool) string {
	switch {
	case n <= 0:
		return "-"
	case bytes:
		return units.BytesSize(float64(n))
	}
	return fmt.Sprint(n)
}

//go:build !linux

package bench

// monotonicNS is not needed where jails cannot run; StartExit then reports
// every stamp as out of range.
func monotonicNS() int64 { return 0 }

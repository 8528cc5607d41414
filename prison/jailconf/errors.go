package jailconf

import (
	"strconv"
	"strings"
)

// Pos is a place in a configuration file.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return p.File + ":" + strconv.Itoa(p.Line)
}

// Error is every error the package returns: a syntax error, an unknown
// parameter, a bad value, an include that failed, a dependency problem.
// Error() is one line: "FILE:LINE: "TOKEN": MSG", the shape of jail(8)'s
// own "FILE line N: TOKEN: MSG".
type Error struct {
	File  string // empty for an error about the command line (Order's names)
	Line  int    // 0 when the error is about the whole file
	Token string // the offending text as written, or ""
	Msg   string
	Err   error // the underlying error of a failed read, or nil
}

// maxToken bounds how much of a token an error quotes.
const maxToken = 40

func (e *Error) Error() string {
	var b strings.Builder
	if e.File == "" {
		b.WriteString("jailconf: ")
	} else {
		b.WriteString(Pos{e.File, e.Line}.String())
		b.WriteString(": ")
	}
	if e.Token != "" {
		t := e.Token
		if len(t) > maxToken {
			t = t[:maxToken] + "..."
		}
		b.WriteString(strconv.Quote(t))
		b.WriteString(": ")
	}
	// A message may quote user text; keep the error on one line.
	b.WriteString(strings.ReplaceAll(e.Msg, "\n", `\n`))
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

func errorAt(pos Pos, token, msg string) *Error {
	return &Error{File: pos.File, Line: pos.Line, Token: token, Msg: msg}
}

// Warning is something prison accepts but will not act on.
type Warning struct {
	Pos   Pos
	Param string // canonical parameter name
	Msg   string
}

func (w Warning) String() string { return w.Pos.String() + ": " + w.Msg }

package jailconf

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// maxIncludeDepth is config.c's MAX_INCLUDE_DEPTH.
const maxIncludeDepth = 32

// maxFileSize bounds what one file may hold. A jail.conf is a few
// kilobytes; a glob that reaches /dev or /proc must not hang the parser or
// exhaust memory.
const maxFileSize = 8 << 20

// fileSystem is where configuration files come from: the host's, or an
// fs.FS for ParseFS and the tests.
type fileSystem interface {
	readFile(name string) ([]byte, error)
	glob(pattern string) ([]string, error)
	// key names a file the same way however it was reached, to find an
	// include loop.
	key(name string) string
}

// includer is a file being read, for include loops.
type includer struct{ key, name string }

// includeGlob reads the files one .include item names, as config.c's
// include_config does: a relative name is taken from the directory of the
// file that includes it; a pattern with glob characters reads every match
// in order and may match nothing; a plain name must exist.
func (p *parser) includeGlob(from string, pos Pos, pattern string, cur *block) error {
	if len(p.chain) > maxIncludeDepth {
		return errorAt(pos, pattern, fmt.Sprintf("more than %d nested includes", maxIncludeDepth))
	}
	name := pattern
	if !strings.HasPrefix(pattern, "/") {
		if i := strings.LastIndexByte(from, '/'); i >= 0 {
			name = from[:i+1] + pattern
		}
	}
	if !hasMagic(name) {
		return p.includeFile(pos, pattern, name, cur)
	}
	matches, err := p.fsys.glob(name)
	if err != nil {
		return &Error{File: pos.File, Line: pos.Line, Token: pattern, Msg: "include: " + err.Error(), Err: err}
	}
	for _, m := range matches {
		if err := p.includeFile(pos, pattern, m, cur); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) includeFile(pos Pos, pattern, name string, cur *block) error {
	key := p.fsys.key(name)
	for i, c := range p.chain {
		if c.key == key {
			var loop []string
			for _, c := range p.chain[i:] {
				loop = append(loop, c.name)
			}
			return errorAt(pos, pattern, "include loop: "+strings.Join(append(loop, name), " -> "))
		}
	}
	src, err := p.fsys.readFile(name)
	if err != nil {
		msg := "include: " + ioMsg(err)
		if name != pattern {
			msg = "include " + name + ": " + ioMsg(err)
		}
		return &Error{File: pos.File, Line: pos.Line, Token: pattern, Msg: msg, Err: err}
	}
	p.chain = append(p.chain, includer{key, name})
	defer func() { p.chain = p.chain[:len(p.chain)-1] }()
	return p.parseFile(name, src, cur)
}

// ioMsg is a read error without the *fs.PathError's name, which the
// caller shows already.
func ioMsg(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

var errNotRegular = errors.New("not a regular file")

// errTooBig says a file exceeds maxFileSize.
var errTooBig = fmt.Errorf("larger than %d bytes", maxFileSize)

// readAll reads an opened file, which must be regular and small.
func readAll(f fs.File, name string) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errNotRegular}
	}
	// The size is not trusted: /proc files say 0.
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	if len(b) > maxFileSize {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errTooBig}
	}
	return b, nil
}

// osFS reads the host's files.
type osFS struct{}

func (osFS) readFile(name string) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO for reading would wait for a writer.
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAll(f, name)
}

func (osFS) glob(pattern string) ([]string, error) {
	return filepath.Glob(goPattern(pattern))
}

func (osFS) key(name string) string {
	if abs, err := filepath.Abs(name); err == nil {
		return abs
	}
	return filepath.Clean(name)
}

// ioFS reads an fs.FS, whose root stands for "/": "/etc/jail.conf" is
// "etc/jail.conf" in it, and relative names are relative to its root.
type ioFS struct{ fsys fs.FS }

func fsName(name string) string {
	name = strings.TrimLeft(path.Clean(name), "/")
	if name == "" {
		return "."
	}
	return name
}

func (ioFS) key(name string) string { return fsName(name) }

func (f ioFS) readFile(name string) ([]byte, error) {
	file, err := f.fsys.Open(fsName(name))
	if err != nil {
		return nil, err
	}
	defer file.Close()
	return readAll(file, name)
}

func (f ioFS) glob(pattern string) ([]string, error) {
	matches, err := fs.Glob(f.fsys, fsName(goPattern(pattern)))
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(pattern, "/") {
		for i, m := range matches {
			matches[i] = "/" + m
		}
	}
	return matches, nil
}

// hasMagic reports whether glob(3) would find glob characters in pattern
// (its GLOB_MAGCHAR): an unescaped '*' or '?', or a '[' with a ']' after
// the set's first character.
func hasMagic(pattern string) bool {
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '\\':
			i++
		case '*', '?':
			return true
		case '[':
			if bracketEnd(pattern, i) >= 0 {
				return true
			}
		}
	}
	return false
}

// bracketEnd returns the index of the ']' closing the set that opens at
// i, or -1 when glob(3) would take the '[' literally.
func bracketEnd(pattern string, i int) int {
	j := i + 1
	if j < len(pattern) && pattern[j] == '!' {
		j++
	}
	if j >= len(pattern) {
		return -1
	}
	if k := strings.IndexByte(pattern[j+1:], ']'); k >= 0 {
		return j + 1 + k
	}
	return -1
}

// goPattern turns a glob(3) pattern into path.Match's syntax: "[!" negates
// as "[^", and a '[' glob(3) takes literally is escaped.
func goPattern(pattern string) string {
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch {
		case c == '\\' && i+1 < len(pattern):
			b.WriteByte(c)
			i++
			b.WriteByte(pattern[i])
			continue
		case c == '[' && bracketEnd(pattern, i) < 0:
			b.WriteString(`\[`)
			continue
		case c == '[' && i+1 < len(pattern) && pattern[i+1] == '!':
			b.WriteString("[^")
			i++
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

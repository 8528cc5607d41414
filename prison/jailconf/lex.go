package jailconf

import (
	"bytes"
	"strings"
)

// The lexer follows usr.sbin/jail/jaillex.l rule by rule, including
// flex's longest match: "//" starts a comment even inside an unquoted path,
// "+=" wins over a "+" in a word, and an unterminated string or variable
// is an error rather than a shorter token.

type tokKind int

const (
	tokEOF    tokKind = iota
	tokWord           // literal text: jaillex.l's STR, or STR1 when joined
	tokVar            // a variable reference: VAR, or VAR1 when joined
	tokAssign         // =
	tokAppend         // +=
	tokComma          // ,
	tokSemi           // ;
	tokLBrace         // {
	tokRBrace         // }
	tokBad            // a character the grammar has no use for
)

type token struct {
	kind     tokKind
	text     string // a word's decoded text, a variable's name
	raw      string // the source text, for error messages
	line     int
	off, end int // where raw is in the file
	// joined says the token continues the word before it with nothing in
	// between ("/jails/"$name"), so the two make one string.
	joined bool
}

type lexer struct {
	file string
	src  []byte
	pos  int
	line int
	// instr is jaillex.l's instr: the last token was part of a string, so
	// the next one continues it unless whitespace or punctuation came
	// between.
	instr   bool
	pending []token // the rest of a double-quoted string's pieces
}

func newLexer(file string, src []byte) *lexer {
	return &lexer{file: file, src: src, line: 1}
}

func (l *lexer) errorf(line int, token, msg string) *Error {
	return errorAt(Pos{l.file, line}, token, msg)
}

// next returns the next token; at the end it returns tokEOF forever.
func (l *lexer) next() (token, error) {
	if len(l.pending) > 0 {
		t := l.pending[0]
		l.pending = l.pending[1:]
		return t, nil
	}
	if err := l.skipSpace(); err != nil {
		return token{}, err
	}
	if l.pos >= len(l.src) {
		return token{kind: tokEOF, line: l.line, off: l.pos, end: l.pos}, nil
	}
	start, c := l.pos, l.src[l.pos]
	punct := func(k tokKind, n int) (token, error) {
		l.pos += n
		l.instr = false
		return token{kind: k, raw: string(l.src[start:l.pos]), line: l.line, off: start, end: l.pos}, nil
	}
	switch {
	case c == '+' && l.at(1) == '=':
		return punct(tokAppend, 2)
	case c == '=':
		return punct(tokAssign, 1)
	case c == ',':
		return punct(tokComma, 1)
	case c == ';':
		return punct(tokSemi, 1)
	case c == '{':
		return punct(tokLBrace, 1)
	case c == '}':
		return punct(tokRBrace, 1)
	case isAtom(c):
		for l.pos < len(l.src) && isAtom(l.src[l.pos]) {
			l.pos++
		}
		return l.piece(tokWord, string(l.src[start:l.pos]), start, l.line), nil
	case c == '\\':
		n := escapeLen(l.src[l.pos:])
		l.pos += n
		t := l.piece(tokWord, unescape(l.src[start:l.pos]), start, l.line)
		l.line += bytes.Count(l.src[start:l.pos], []byte("\n"))
		return t, nil
	case c == '$':
		return l.variable(false, len(l.src))
	case c == '*' || c == '+' || c == '/':
		l.pos++
		return l.piece(tokWord, string(c), start, l.line), nil
	case c == '\'':
		return l.singleQuoted()
	case c == '"':
		return l.doubleQuoted()
	}
	l.pos++
	return token{kind: tokBad, raw: string(l.src[start:l.pos]), line: l.line, off: start, end: l.pos}, nil
}

// at returns the byte i places ahead, or 0 past the end.
func (l *lexer) at(i int) byte {
	if l.pos+i < len(l.src) {
		return l.src[l.pos+i]
	}
	return 0
}

// skipSpace skips whitespace and the three kinds of comment.
func (l *lexer) skipSpace() error {
	for l.pos < len(l.src) {
		switch c := l.src[l.pos]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			if c == '\n' {
				l.line++
			}
			l.pos++
		case c == '#' || c == '/' && l.at(1) == '/':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
		case c == '/' && l.at(1) == '*':
			end := bytes.Index(l.src[l.pos+2:], []byte("*/"))
			if end < 0 {
				return l.errorf(l.line, "/*", "unterminated comment")
			}
			end += l.pos + 4
			l.line += bytes.Count(l.src[l.pos:end], []byte("\n"))
			l.pos = end
		default:
			return nil
		}
		l.instr = false
	}
	return nil
}

// piece makes a word or variable token and notes that a string is under
// way.
func (l *lexer) piece(kind tokKind, text string, start, line int) token {
	t := token{kind: kind, text: text, raw: string(l.src[start:l.pos]), line: line, off: start, end: l.pos, joined: l.instr}
	l.instr = true
	return t
}

// variable lexes "$name", "${any}" or, when neither follows, a lone "$",
// which is literal. In a double-quoted string (inDQ) the braces may not
// hold a '"', and end is where the string's text ends.
func (l *lexer) variable(inDQ bool, end int) (token, error) {
	start, line := l.pos, l.line
	src := l.src[:end]
	i := start + 1
	switch {
	case i < len(src) && isVarStart(src[i]):
		for i < len(src) && isVarChar(src[i]) {
			i++
		}
		l.pos = i
		return l.piece(tokVar, string(src[start+1:i]), start, line), nil
	case i < len(src) && src[i] == '{':
		for i++; i < len(src); i++ {
			c := src[i]
			switch {
			case c == '}':
				l.pos = i + 1
				t := l.piece(tokVar, unescape(src[start+2:i]), start, line)
				l.line += bytes.Count(src[start:i], []byte("\n"))
				return t, nil
			case c == '\\' && i+1 < len(src):
				i++ // jaillex.l lets an escaped newline through
			case c == '\n' || c == '{' || inDQ && c == '"':
				i = len(src) // unterminated
			}
		}
		return token{}, l.errorf(line, firstLine(src[start:]), "unterminated variable")
	}
	l.pos = i
	return l.piece(tokWord, "$", start, line), nil
}

func (l *lexer) singleQuoted() (token, error) {
	start, line := l.pos, l.line
	end, ok := quoteEnd(l.src, start, '\'')
	if !ok {
		return token{}, l.errorf(line, firstLine(l.src[start:]), "unterminated string")
	}
	l.pos = end + 1
	t := l.piece(tokWord, unescape(l.src[start+1:end]), start, line)
	l.line += bytes.Count(l.src[start:l.pos], []byte("\n"))
	return t, nil
}

// doubleQuoted splits "text $var ${var} text" into the pieces jaillex.l
// returns for it: the text up to the first '$' (decoded as one piece),
// then, in its DQ state, variables, single escapes and runs of text up to
// the next '$'. Each piece is decoded on its own, so a NUL cuts only its
// own piece, as the C strings do.
func (l *lexer) doubleQuoted() (token, error) {
	start, line := l.pos, l.line
	end, ok := quoteEnd(l.src, start, '"')
	if !ok {
		return token{}, l.errorf(line, firstLine(l.src[start:]), "unterminated string")
	}
	i := textEnd(l.src[:end], start+1)
	l.pos = i
	pieces := []token{l.piece(tokWord, unescape(l.src[start+1:i]), start, line)}
	for l.pos < end {
		s := l.pos
		switch l.src[s] {
		case '$':
			t, err := l.variable(true, end)
			if err != nil {
				return token{}, err
			}
			pieces = append(pieces, t)
			continue
		case '\\':
			l.pos += escapeLen(l.src[s:end])
		default:
			l.pos = textEnd(l.src[:end], s+1)
		}
		pieces = append(pieces, l.piece(tokWord, unescape(l.src[s:l.pos]), s, line))
	}
	l.pos = end + 1
	// The last piece ends with the closing quote; a string of one piece
	// shows all of itself in errors.
	last := &pieces[len(pieces)-1]
	last.end = l.pos
	if len(pieces) == 1 {
		last.raw = string(l.src[start:l.pos])
	}
	// The pieces all carry the line the string starts on; the lexer goes
	// on from the line it ends on.
	l.line = line + bytes.Count(l.src[start:l.pos], []byte("\n"))
	l.pending = pieces[1:]
	return pieces[0], nil
}

// quoteEnd finds the quote closing the string that opens at start; a
// backslash escapes whatever follows it, a newline included.
func quoteEnd(src []byte, start int, q byte) (int, bool) {
	for i := start + 1; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case q:
			return i, true
		}
	}
	return 0, false
}

// textEnd returns where a run of double-quoted text from i stops: at the
// first '$' not escaped by a backslash, or at end.
func textEnd(src []byte, i int) int {
	for ; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case '$':
			return i
		}
	}
	return len(src)
}

// escapeLen is the length of the escape at the start of b, which starts
// with a backslash: up to three octal digits, x and up to two hex digits,
// or any one byte.
func escapeLen(b []byte) int {
	switch {
	case len(b) < 2:
		return len(b)
	case isOctal(b[1]):
		n := 2
		for n < 4 && n < len(b) && isOctal(b[n]) {
			n++
		}
		return n
	case b[1] == 'x' && len(b) > 2 && isHex(b[2]):
		if len(b) > 3 && isHex(b[3]) {
			return 4
		}
		return 3
	}
	return 2
}

// unescape decodes backslash escapes as jaillex.l's text2lval does: C
// escapes, octal and hex codes, a backslash-newline that vanishes. The
// result is cut at its first NUL, where jail(8)'s C string would end.
func unescape(b []byte) string {
	if bytes.IndexByte(b, '\\') < 0 {
		if i := bytes.IndexByte(b, 0); i >= 0 {
			b = b[:i]
		}
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			out = append(out, b[i])
			continue
		}
		i++
		if i == len(b) {
			out = append(out, 0) // text2lval reads the terminating NUL
			break
		}
		switch c := b[i]; {
		case isOctal(c):
			v := int(c - '0')
			for n := 0; n < 2 && i+1 < len(b) && isOctal(b[i+1]); n++ {
				i++
				v = v*8 + int(b[i]-'0')
			}
			out = append(out, byte(v)) // a C char too: \777 wraps to 0377
		case c == 'x':
			v := 0
			for n := 0; n < 2 && i+1 < len(b) && isHex(b[i+1]); n++ {
				i++
				v = v*16 + hexVal(b[i])
			}
			out = append(out, byte(v))
		case c == '\n':
		default:
			out = append(out, cEscape(c))
		}
	}
	if i := bytes.IndexByte(out, 0); i >= 0 {
		out = out[:i]
	}
	return string(out)
}

func cEscape(c byte) byte {
	switch c {
	case 'a':
		return '\a'
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'v':
		return '\v'
	}
	return c
}

// isAtom reports whether c may appear in an unquoted word:
// [A-Za-z0-9_!%&()\-.:<>?@\[\]^`|~] in jaillex.l.
func isAtom(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("_!%&()-.:<>?@[]^`|~", c) >= 0
}

func isVarStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func isVarChar(c byte) bool { return isVarStart(c) || c >= '0' && c <= '9' }

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexVal(c byte) int {
	switch {
	case c >= 'a':
		return int(c-'a') + 10
	case c >= 'A':
		return int(c-'A') + 10
	}
	return int(c - '0')
}

// firstLine is the start of b up to its first newline, for an error's
// token.
func firstLine(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return string(b[:min(len(b), maxToken)])
}

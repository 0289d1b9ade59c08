package pyjinn

import (
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// A small JSON reader for the request, without reflection: encoding/json's decoder costs a
// fresh Go instance (one per request) a few hundred microseconds it need not pay.

var errSyntax = errors.New("malformed JSON")

// maxDepth bounds the nesting of values the reader skips, so no input can exhaust the stack.
const maxDepth = 64

type reader struct {
	data []byte
	at   int
}

func (r *reader) space() {
	for r.at < len(r.data) {
		switch r.data[r.at] {
		case ' ', '\t', '\n', '\r':
			r.at++
		default:
			return
		}
	}
}

// take consumes c (after whitespace) if it is next.
func (r *reader) take(c byte) bool {
	r.space()
	if r.at < len(r.data) && r.data[r.at] == c {
		r.at++
		return true
	}
	return false
}

func (r *reader) peek() byte {
	r.space()
	if r.at < len(r.data) {
		return r.data[r.at]
	}
	return 0
}

func (r *reader) literal(word string) bool {
	r.space()
	if len(r.data)-r.at >= len(word) && string(r.data[r.at:r.at+len(word)]) == word {
		r.at += len(word)
		return true
	}
	return false
}

// str reads a JSON string, decoding its escapes.
func (r *reader) str() (string, error) {
	if !r.take('"') {
		return "", errSyntax
	}
	start := r.at
	for r.at < len(r.data) {
		c := r.data[r.at]
		if c == '"' {
			text := string(r.data[start:r.at])
			r.at++
			return text, nil
		}
		if c == '\\' {
			return r.escaped(start)
		}
		if c < 0x20 {
			return "", errSyntax
		}
		r.at++
	}
	return "", errSyntax
}

// escaped finishes a string that holds escapes, from its first escape on.
func (r *reader) escaped(start int) (string, error) {
	out := append([]byte(nil), r.data[start:r.at]...)
	for r.at < len(r.data) {
		c := r.data[r.at]
		switch {
		case c == '"':
			r.at++
			return string(out), nil
		case c < 0x20:
			return "", errSyntax
		case c != '\\':
			out = append(out, c)
			r.at++
			continue
		}
		if r.at+1 >= len(r.data) {
			return "", errSyntax
		}
		kind := r.data[r.at+1]
		r.at += 2
		switch kind {
		case '"', '\\', '/':
			out = append(out, kind)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			unit, ok := r.hex4()
			if !ok {
				return "", errSyntax
			}
			code := rune(unit)
			if utf16.IsSurrogate(code) {
				code = utf8.RuneError // a lone surrogate has no UTF-8 form
				if r.at+1 < len(r.data) && r.data[r.at] == '\\' && r.data[r.at+1] == 'u' {
					saved := r.at
					r.at += 2
					if low, ok := r.hex4(); ok && utf16.DecodeRune(rune(unit), rune(low)) != utf8.RuneError {
						code = utf16.DecodeRune(rune(unit), rune(low))
					} else {
						r.at = saved
					}
				}
			}
			out = utf8.AppendRune(out, code)
		default:
			return "", errSyntax
		}
	}
	return "", errSyntax
}

func (r *reader) hex4() (int, bool) {
	if len(r.data)-r.at < 4 {
		return 0, false
	}
	value := 0
	for _, c := range r.data[r.at : r.at+4] {
		switch {
		case c >= '0' && c <= '9':
			value = value*16 + int(c-'0')
		case c >= 'a' && c <= 'f':
			value = value*16 + int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			value = value*16 + int(c-'A'+10)
		default:
			return 0, false
		}
	}
	r.at += 4
	return value, true
}

// optionalString reads a string, or null as "".
func (r *reader) optionalString() (string, error) {
	if r.literal("null") {
		return "", nil
	}
	return r.str()
}

// skip steps over one value, checking its syntax.
func (r *reader) skip(depth int) error {
	switch r.peek() {
	case '"':
		_, err := r.str()
		return err
	case '{', '[':
		if depth >= maxDepth {
			return errors.New("nested too deeply")
		}
		open := r.data[r.at]
		closing := byte('}')
		if open == '[' {
			closing = ']'
		}
		r.at++
		if r.take(closing) {
			return nil
		}
		for {
			if open == '{' {
				if _, err := r.str(); err != nil || !r.take(':') {
					return errSyntax
				}
			}
			if err := r.skip(depth + 1); err != nil {
				return err
			}
			if r.take(closing) {
				return nil
			}
			if !r.take(',') {
				return errSyntax
			}
		}
	case 0:
		return errSyntax
	}
	for _, word := range []string{"true", "false", "null"} {
		if r.literal(word) {
			return nil
		}
	}
	start := r.at
	for r.at < len(r.data) && isNumberByte(r.data[r.at]) {
		r.at++
	}
	if r.at == start {
		return errSyntax
	}
	return nil
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// fields reads an object of name -> list of strings (or one string), or null, in order.
func (r *reader) fields() ([]Field, error) {
	if r.literal("null") {
		return nil, nil
	}
	if !r.take('{') {
		return nil, errors.New("not an object")
	}
	var list []Field
	if r.take('}') {
		return list, nil
	}
	for {
		name, err := r.str()
		if err != nil || !r.take(':') {
			return nil, errSyntax
		}
		if r.take('[') {
			if !r.take(']') {
				for {
					value, err := r.str()
					if err != nil {
						return nil, errors.New("the values of " + name + " are not strings")
					}
					list = append(list, Field{name, value})
					if r.take(']') {
						break
					}
					if !r.take(',') {
						return nil, errSyntax
					}
				}
			}
		} else {
			value, err := r.str()
			if err != nil {
				return nil, errors.New("the value of " + name + " is not a string")
			}
			list = append(list, Field{name, value})
		}
		if r.take('}') {
			return list, nil
		}
		if !r.take(',') {
			return nil, errSyntax
		}
	}
}

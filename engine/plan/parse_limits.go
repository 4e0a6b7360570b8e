package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/baton-run/baton/models"
	"github.com/goccy/go-yaml/scanner"
	"github.com/goccy/go-yaml/token"
)

// Limits on the shape of a definition, enforced while it is read so that a
// hostile document is refused before the YAML parser (which builds a whole
// syntax tree, and checks duplicate keys in time quadratic in a map's size)
// or encoding/json has done more than a linear pass over it.
const (
	// maxTokens bounds the YAML tokens (or JSON tokens) of a definition.
	// An honest 1 MiB definition has well under this many.
	maxTokens = 200_000
	// maxMapKeys bounds the keys of one mapping. The YAML library checks
	// duplicates pairwise, so a map of 50,000 keys costs seconds of CPU;
	// no part of the format needs more than a few hundred.
	maxMapKeys = 2_000
	// aliasExpansion bounds how much YAML aliases may multiply the
	// document: the values after expansion may be at most this many times
	// the tokens written (and never more than maxValueNodes).
	aliasExpansion = 10
)

// shapeError is a refusal of the document's shape, at a position.
func shapeError(line, col int, format string, args ...any) error {
	return &models.Error{
		Code:    models.Invalid,
		Message: "the definition is too complex",
		Details: []models.Problem{{Message: fmt.Sprintf("line %d, column %d: ", line, col) + fmt.Sprintf(format, args...)}},
	}
}

// yamlLevel is one open collection during the pre-scan: a block level
// (by the column of its keys or entries) or a flow collection.
type yamlLevel struct {
	col  int
	keys int
	flow bool
}

// prescanYAML runs the library's scanner (a linear pass that builds no
// tree) over data and refuses it if it nests deeper than maxDepth, holds
// more than maxTokens tokens, or a map with more than maxMapKeys keys. It
// stops at the first excess, so a hostile document costs at most the
// tokens up to that point. It returns the number of tokens, which bounds
// alias expansion afterwards. Syntax errors are left to the parser, which
// reports them better.
func prescanYAML(data []byte) (int, error) {
	var s scanner.Scanner
	s.Init(string(data))
	var (
		levels []yamlLevel
		flow   int // open flow collections
		n      int
		prev   *token.Token
	)
	depth := func() int { return len(levels) }
	for {
		toks, err := s.Scan()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, nil // the parser reports the syntax error with its position
		}
		for _, tk := range toks {
			if tk == nil || tk.Position == nil {
				continue
			}
			if tk.Type == token.CommentType {
				continue
			}
			n++
			pos := tk.Position
			if n > maxTokens {
				return n, shapeError(pos.Line, pos.Column, "the definition holds more than %d values and punctuation tokens", maxTokens)
			}
			switch tk.Type {
			case token.SequenceStartType, token.MappingStartType:
				flow++
				levels = append(levels, yamlLevel{col: pos.Column, flow: true})
			case token.SequenceEndType, token.MappingEndType:
				if flow > 0 {
					flow--
					// Drop the block levels opened inside, then the flow one.
					for len(levels) > 0 && !levels[len(levels)-1].flow {
						levels = levels[:len(levels)-1]
					}
					if len(levels) > 0 {
						levels = levels[:len(levels)-1]
					}
				}
			case token.MappingValueType, token.SequenceEntryType, token.MappingKeyType:
				if flow > 0 {
					if tk.Type == token.MappingValueType {
						top := &levels[len(levels)-1]
						top.keys++
						if top.keys > maxMapKeys {
							return n, shapeError(pos.Line, pos.Column, "a map holds more than %d keys", maxMapKeys)
						}
					}
					break
				}
				// A block level is known by its column: a key's column for
				// "key:", the dash's for "- ".
				col := pos.Column
				if tk.Type == token.MappingValueType && prev != nil && prev.Position != nil && prev.Position.Line == pos.Line {
					col = prev.Position.Column
				}
				for len(levels) > 0 && !levels[len(levels)-1].flow && levels[len(levels)-1].col > col {
					levels = levels[:len(levels)-1]
				}
				if len(levels) == 0 || levels[len(levels)-1].flow || levels[len(levels)-1].col < col {
					levels = append(levels, yamlLevel{col: col})
				}
				if tk.Type == token.MappingValueType {
					top := &levels[len(levels)-1]
					top.keys++
					if top.keys > maxMapKeys {
						return n, shapeError(pos.Line, pos.Column, "a map holds more than %d keys", maxMapKeys)
					}
				}
			}
			if depth() > maxDepth {
				return n, shapeError(pos.Line, pos.Column, "the definition is nested more than %d levels deep", maxDepth)
			}
			prev = tk
		}
	}
}

// decodeJSONBounded decodes one JSON value token by token, refusing (with
// line and column) nesting deeper than maxDepth, more than maxTokens
// tokens, more than maxMapKeys keys in an object, a key written twice in
// one object, and a number that does not fit a float64 (1e400). Numbers
// come back as json.Number so that integers stay exact; normalise turns
// the others into float64.
func decodeJSONBounded(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n := 0
	var value func(depth int) (any, error)
	// at is the position of the token just read.
	at := func() (int, int) {
		off := int(dec.InputOffset())
		// InputOffset is just past the token; step back over it to its start
		// for a clearer column: good enough to point at the line.
		return lineCol(data, max(0, off-1))
	}
	value = func(depth int) (any, error) {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		n++
		if n > maxTokens {
			line, col := at()
			return nil, shapeError(line, col, "the definition holds more than %d values and punctuation tokens", maxTokens)
		}
		switch t := tok.(type) {
		case json.Delim:
			if depth+1 > maxDepth {
				line, col := at()
				return nil, shapeError(line, col, "the definition is nested more than %d levels deep", maxDepth)
			}
			switch t {
			case '{':
				m := map[string]any{}
				for dec.More() {
					kt, err := dec.Token()
					if err != nil {
						return nil, err
					}
					n++
					k, _ := kt.(string)
					if _, dup := m[k]; dup {
						// Point at the key's opening quote.
						line, col := lineCol(data, max(0, int(dec.InputOffset())-len(k)-2))
						return nil, models.Errorf(models.BadRequest, "JSON syntax error at line %d, column %d: the key %q is written twice in one object", line, col, k)
					}
					if len(m) >= maxMapKeys {
						line, col := at()
						return nil, shapeError(line, col, "a map holds more than %d keys", maxMapKeys)
					}
					v, err := value(depth + 1)
					if err != nil {
						return nil, err
					}
					m[k] = v
				}
				if _, err := dec.Token(); err != nil { // '}'
					return nil, err
				}
				return m, nil
			case '[':
				l := []any{}
				for dec.More() {
					v, err := value(depth + 1)
					if err != nil {
						return nil, err
					}
					l = append(l, v)
				}
				if _, err := dec.Token(); err != nil { // ']'
					return nil, err
				}
				return l, nil
			}
			line, col := at()
			return nil, models.Errorf(models.BadRequest, "JSON syntax error at line %d, column %d: unexpected %q", line, col, t)
		case json.Number:
			if _, err := t.Float64(); err != nil {
				line, col := at()
				col -= len(t) - 1
				return nil, models.Errorf(models.BadRequest, "JSON syntax error at line %d, column %d: the number %s is out of range", line, col, t)
			}
			return t, nil
		default:
			return t, nil
		}
	}
	v, err := value(0)
	if err != nil {
		var me *models.Error
		if errors.As(err, &me) {
			return nil, err
		}
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return nil, &models.Error{Code: models.BadRequest, Message: "the definition is empty"}
			}
			err = io.ErrUnexpectedEOF
		}
		return nil, jsonSyntaxError(data, err)
	}
	if off := dec.InputOffset(); len(bytes.TrimSpace(data[off:])) > 0 {
		rest := data[off:]
		skip := len(rest) - len(bytes.TrimLeft(rest, " \t\r\n"))
		line, col := lineCol(data, int(off)+skip)
		return nil, models.Errorf(models.BadRequest, "JSON syntax error at line %d, column %d: unexpected data after the definition", line, col)
	}
	return v, nil
}

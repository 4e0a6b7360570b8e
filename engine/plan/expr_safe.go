package plan

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/vm/runtime"
)

// expr's memory budget counts the elements of the ranges, lists and maps an
// evaluation builds, but not text: `reduce(1..40, #acc + #acc, "x")` or a
// chain of lets doubling a string would allocate terabytes and take the
// whole server down. Baton therefore routes every operation that can make
// text (or lists) larger than its inputs through functions that check the
// size before they build it and charge it to the same budget:
//
//   - `a + b` becomes a call of the built-in "$add" (a patch on the syntax
//     tree, see plusPatch), which for strings checks and charges the length;
//   - the built-ins join, replace, repeat, toJSON, toBase64, string, split
//     and splitAfter are replaced by checked versions.
//
// Text is charged at one unit per 16 bytes (the size of an interface value,
// which is what expr charges per list element), so one evaluation may build
// about 16 MB of text in all, and no single value may exceed exprMaxText.
//
// Replacing entries of expr's built-in table is a change to a package
// variable of a library, done once before any expression is compiled; no
// other code in the binary uses expr.
const exprMaxText = 16 << 20

const addName = "$add"

func init() {
	hardenBuiltins()
}

func hardenBuiltins() {
	if _, done := builtin.Index[addName]; done {
		return
	}
	builtin.Builtins = append(builtin.Builtins, &builtin.Function{
		Name:     addName,
		Safe:     safeAdd,
		Validate: validateAdd,
	})
	builtin.Index[addName] = len(builtin.Builtins) - 1
	builtin.Names = append(builtin.Names, addName)

	check := map[string]func(args []any) (int, error){
		"join": func(args []any) (int, error) {
			glue := 0
			if len(args) == 2 {
				if g, ok := args[1].(string); ok {
					glue = len(g)
				}
			}
			n := 0
			switch l := args[0].(type) {
			case []string:
				for _, s := range l {
					n += len(s) + glue
				}
			case []any:
				for _, s := range l {
					if s, ok := s.(string); ok {
						n += len(s) + glue
					}
				}
			}
			return n, nil
		},
		"replace": func(args []any) (int, error) {
			s, _ := args[0].(string)
			old, _ := args[1].(string)
			repl, _ := args[2].(string)
			if old == "" {
				return len(s) + (len(s)+1)*len(repl), nil
			}
			return len(s) + strings.Count(s, old)*max(0, len(repl)-len(old)), nil
		},
		"repeat": func(args []any) (int, error) {
			s, _ := args[0].(string)
			n := runtime.ToInt(args[1])
			if n > 0 && len(s) > 0 && n > exprMaxText/len(s) {
				return exprMaxText + 1, nil
			}
			return len(s) * max(n, 0), nil
		},
		"toBase64": func(args []any) (int, error) {
			s, _ := args[0].(string)
			return base64.StdEncoding.EncodedLen(len(s)), nil
		},
		"toJSON":     deepArgsSize,
		"string":     deepArgsSize,
		"split":      stringArgSize,
		"splitAfter": stringArgSize,
	}
	for name, estimate := range check {
		id, ok := builtin.Index[name]
		if !ok {
			continue
		}
		builtin.Builtins[id] = checkedBuiltin(builtin.Builtins[id], estimate)
	}
}

// checkedBuiltin wraps a built-in so that it refuses work whose result would
// exceed exprMaxText and charges what it builds to the memory budget.
func checkedBuiltin(orig *builtin.Function, estimate func([]any) (int, error)) *builtin.Function {
	f := *orig
	call := orig.Safe
	switch {
	case call != nil:
	case orig.Func != nil:
		fn := orig.Func
		call = func(args ...any) (any, uint, error) {
			out, err := fn(args...)
			return out, 0, err
		}
	case orig.Fast != nil:
		fast := orig.Fast
		call = func(args ...any) (any, uint, error) { return fast(args[0]), 0, nil }
	default:
		return orig
	}
	name := orig.Name
	f.Fast, f.Func = nil, nil
	f.Safe = func(args ...any) (any, uint, error) {
		n, err := estimate(args)
		if err != nil {
			return nil, 0, err
		}
		if n > exprMaxText {
			return nil, 0, fmt.Errorf("%s would build more than %d bytes; the limit is %d", name, exprMaxText, exprMaxText)
		}
		out, mem, err := call(args...)
		if err != nil {
			return nil, 0, err
		}
		return out, mem + charge(out), nil
	}
	return &f
}

// charge is what a built value costs against the memory budget.
func charge(v any) uint {
	switch v := v.(type) {
	case string:
		return uint(len(v)/16) + 1
	case []string:
		return uint(len(v)) + 1
	case []any:
		return uint(len(v)) + 1
	}
	return 1
}

func stringArgSize(args []any) (int, error) {
	s, _ := args[0].(string)
	// A split makes at most one string header (16 bytes) per byte.
	return len(s), nil
}

// deepArgsSize estimates the text a value becomes (toJSON, string): the
// length of its strings plus a little per element, stopping as soon as the
// limit is passed, so that a list holding the same large value a million
// times is refused without walking it all.
func deepArgsSize(args []any) (int, error) {
	n := 0
	for _, a := range args {
		n += deepSize(reflect.ValueOf(a), exprMaxText-n, 0)
		if n > exprMaxText {
			break
		}
	}
	return n, nil
}

func deepSize(v reflect.Value, budget, depth int) int {
	if budget < 0 || depth > 100 {
		return budget + 1
	}
	switch v.Kind() {
	case reflect.Invalid:
		return 4
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return 4
		}
		return deepSize(v.Elem(), budget, depth+1)
	case reflect.String:
		return v.Len() + 2
	case reflect.Slice, reflect.Array:
		n := 2
		for i := 0; i < v.Len() && n <= budget; i++ {
			n += deepSize(v.Index(i), budget-n, depth+1) + 1
		}
		return n
	case reflect.Map:
		n := 2
		it := v.MapRange()
		for it.Next() && n <= budget {
			n += deepSize(it.Key(), budget-n, depth+1) + deepSize(it.Value(), budget-n, depth+1) + 2
		}
		return n
	case reflect.Struct:
		n := 2
		for i := 0; i < v.NumField() && n <= budget; i++ {
			n += deepSize(v.Field(i), budget-n, depth+1) + 8
		}
		return n
	}
	return 24 // numbers, booleans, times
}

// safeAdd is `a + b` with text checked and charged; everything else is
// expr's own addition.
func safeAdd(args ...any) (any, uint, error) {
	if sa, ok := args[0].(string); ok {
		if sb, ok := args[1].(string); ok {
			if len(sa)+len(sb) > exprMaxText {
				return nil, 0, fmt.Errorf("+ would build a string of %d bytes; the limit is %d", len(sa)+len(sb), exprMaxText)
			}
			s := sa + sb
			return s, charge(s), nil
		}
	}
	return runtime.Add(args[0], args[1]), 0, nil
}

var (
	typeString   = reflect.TypeOf("")
	typeInt      = reflect.TypeOf(0)
	typeFloat    = reflect.TypeOf(0.0)
	typeTime     = reflect.TypeOf(time.Time{})
	typeDuration = reflect.TypeOf(time.Duration(0))
	typeAny      = reflect.TypeOf((*any)(nil)).Elem()
)

// validateAdd gives `a + b` the type expr's checker would, and refuses the
// same mismatches.
func validateAdd(args []reflect.Type) (reflect.Type, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("+ takes two operands")
	}
	a, b := args[0], args[1]
	if a == nil || b == nil || a.Kind() == reflect.Interface || b.Kind() == reflect.Interface {
		return typeAny, nil
	}
	switch {
	case a.Kind() == reflect.String && b.Kind() == reflect.String:
		return typeString, nil
	case isInteger(a) && isInteger(b):
		return typeInt, nil
	case isNumber(a) && isNumber(b):
		return typeFloat, nil
	case a == typeTime && b == typeDuration, a == typeDuration && b == typeTime:
		return typeTime, nil
	case a == typeDuration && b == typeDuration:
		return typeDuration, nil
	}
	return nil, fmt.Errorf("invalid operation: + (mismatched types %v and %v)", a, b)
}

func isInteger(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return t != typeDuration
	}
	return false
}

func isNumber(t reflect.Type) bool {
	return isInteger(t) || t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64
}

// plusPatch rewrites every `a + b` into $add(a, b).
type plusPatch struct{}

func (plusPatch) Visit(node *ast.Node) {
	b, ok := (*node).(*ast.BinaryNode)
	if !ok || b.Operator != "+" {
		return
	}
	ast.Patch(node, &ast.BuiltinNode{Name: addName, Arguments: []ast.Node{b.Left, b.Right}})
}

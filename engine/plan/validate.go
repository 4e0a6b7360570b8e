package plan

import (
	"cmp"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/baton-run/baton/models"
)

// Patterns of the format's identifiers (see shared/spec/definition.md).
var (
	workflowIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	stepIDPattern     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	groupIDPattern    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$`)
	signalPattern     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	identPattern      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
)

// Human descriptions of those patterns, for messages.
const (
	workflowIDRule = "lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters"
	stepIDRule     = "letters, digits and '_', not starting with a digit, at most 64 characters"
	groupIDRule    = "letters, digits, '_' and '-', at most 64 characters"
	signalRule     = "letters, digits, '_', '.' and '-', at most 128 characters"
)

// didYouMean returns ` (did you mean "x"?)` for the candidate closest to s,
// or "" when none is close enough to be a plausible typo.
func didYouMean(s string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		d := editDistance(strings.ToLower(s), strings.ToLower(c))
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	// Allow about one edit per three characters: "fetch_dta" → "fetch_data"
	// qualifies, "x" → "review" does not, and a one- or two-letter name is
	// too short to guess from.
	limit := utf8.RuneCountInString(s) / 3
	if limit == 0 && utf8.RuneCountInString(s) >= 3 {
		limit = 1
	}
	if bestDist < 0 || bestDist > limit {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the optimal-string-alignment distance between a and b
// (in runes): insertions, deletions, substitutions and swaps of neighbours
// ("stesp" → "steps") each count one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 256 || len(rb) > 256 {
		// Identifiers are short; anything longer is not a typo of one.
		return max(len(ra), len(rb))
	}
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// keyPath is the path segment of a map key: ".name" for identifiers,
// `["a b"]` otherwise.
func keyPath(k string) string {
	if identPattern.MatchString(k) {
		return "." + k
	}
	return "[" + strconv.Quote(k) + "]"
}

// topFieldOrder is the order of the definition's fields, for sorting
// problems the way the document reads.
var topFieldOrder = func() map[string]int {
	order := map[string]int{}
	for i, name := range jsonFieldNames(reflect.TypeOf(models.Definition{})) {
		order[name] = i
	}
	return order
}()

func jsonFieldNames(t reflect.Type) []string {
	names := make([]string, t.NumField())
	for i := range names {
		names[i], _, _ = strings.Cut(t.Field(i).Tag.Get("json"), ",")
	}
	return names
}

// sortProblems orders problems as the document reads: by top-level field
// (id, name, …, inputs, steps, …) and, for lists such as steps, by index;
// problems of the same element keep the order they were found in.
func sortProblems(ps []models.Problem) {
	type key struct{ field, index int }
	keyOf := func(path string) key {
		end := strings.IndexAny(path, ".[")
		head := path
		if end >= 0 {
			head = path[:end]
		}
		k := key{field: len(topFieldOrder), index: -1}
		if i, ok := topFieldOrder[head]; ok {
			k.field = i
		}
		if end >= 0 && path[end] == '[' {
			if close := strings.IndexByte(path[end:], ']'); close > 0 {
				if n, err := strconv.Atoi(path[end+1 : end+close]); err == nil {
					k.index = n
				}
			}
		}
		return k
	}
	slices.SortStableFunc(ps, func(a, b models.Problem) int {
		ka, kb := keyOf(a.Path), keyOf(b.Path)
		if c := cmp.Compare(ka.field, kb.field); c != 0 {
			return c
		}
		return cmp.Compare(ka.index, kb.index)
	})
}

// oneOf lists choices for a message: `"a", "b" or "c"`.
func oneOf(choices []string) string {
	q := make([]string, len(choices))
	for i, c := range choices {
		q[i] = strconv.Quote(c)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

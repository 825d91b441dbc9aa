package report

import (
	"cmp"
	"slices"
	"strings"
)

// TagFilter is one --filter-tag filter a scan listed instances with: the
// instance's tag Key must have one of Values. Values are EC2 filter
// values, where * matches any run of characters and ? one character.
type TagFilter struct {
	Key    string   `json:"key"`
	Values []string `json:"values"`
}

// SortTagFilters puts filters in their recorded order (by key, each one's
// values sorted), so that two scans of the same --filter-tag flags given
// in another order record the same filters.
func SortTagFilters(fs []TagFilter) {
	for i := range fs {
		slices.Sort(fs[i].Values)
	}
	slices.SortFunc(fs, func(a, b TagFilter) int { return cmp.Compare(a.Key, b.Key) })
}

// Listed reports whether a scan of r would have listed an instance with
// these tags: whether they match every one of its --filter-tag filters
// (true when it had none, or records none).
func Listed(r *Report, tags map[string]string) bool {
	if r.ScanOptions == nil {
		return true
	}
	for _, f := range r.ScanOptions.FilterTags {
		v, ok := tags[f.Key]
		if !ok || !slices.ContainsFunc(f.Values, func(p string) bool { return filterMatch(p, v) }) {
			return false
		}
	}
	return true
}

// sameFilterTags reports whether a and b were listed with the same
// --filter-tag filters.
func sameFilterTags(a, b *Report) bool {
	var fa, fb []TagFilter
	if a.ScanOptions != nil {
		fa = a.ScanOptions.FilterTags
	}
	if b.ScanOptions != nil {
		fb = b.ScanOptions.FilterTags
	}
	return slices.EqualFunc(fa, fb, func(x, y TagFilter) bool { return x.Key == y.Key && slices.Equal(x.Values, y.Values) })
}

// filterTagsText is r's filters as --filter-tag flags, or "none".
func filterTagsText(r *Report) string {
	if r.ScanOptions == nil || len(r.ScanOptions.FilterTags) == 0 {
		return "none"
	}
	var parts []string
	for _, f := range r.ScanOptions.FilterTags {
		for _, v := range f.Values {
			parts = append(parts, "--filter-tag "+SanitizeCell(f.Key+"="+v, 60))
		}
	}
	return strings.Join(parts, " ")
}

// filterMatch matches s against an EC2 filter value, where * matches any
// run of characters and ? one character.
func filterMatch(p, s string) bool {
	if !strings.ContainsAny(p, "*?") {
		return p == s
	}
	pr, sr := []rune(p), []rune(s)
	px, sx := 0, 0
	star, mark := -1, 0
	for sx < len(sr) {
		switch {
		case px < len(pr) && (pr[px] == '?' || pr[px] == sr[sx]):
			px++
			sx++
		case px < len(pr) && pr[px] == '*':
			star, mark = px, sx
			px++
		case star >= 0:
			px = star + 1
			mark++
			sx = mark
		default:
			return false
		}
	}
	for px < len(pr) && pr[px] == '*' {
		px++
	}
	return px == len(pr)
}

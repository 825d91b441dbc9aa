package main

import (
	"encoding/csv"
	"io"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/imdsfleet/imdsfleet/internal/awsconfig"
	"github.com/imdsfleet/imdsfleet/scanner"
)

// Checks shared by the commands' flag validation. Every flag is checked
// before any AWS call: bad usage costs nothing and says which flag.

// Bounds of --rate. Below one change per 100 s a run of any size never
// ends, and the limiter's wait (1/rate) overflows a Duration near 1e-10;
// above 1,000/s the rate no longer paces anything (AWS refills
// ModifyInstanceMetadataOptions at 5/s per Region).
const (
	minRate = 0.01
	maxRate = 1000
)

// checkRate rejects NaN, infinities and rates outside [minRate, maxRate].
func checkRate(flag string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < minRate || v > maxRate {
		return usageError("%s %v: want a number of changes per second from %g to %g", flag, v, float64(minRate), float64(maxRate))
	}
	return nil
}

// checkPositive rejects a zero or negative duration.
func checkPositive(flag string, d time.Duration) error {
	if d <= 0 {
		return usageError("%s %s: want a positive duration such as 30s or 5m", flag, d)
	}
	return nil
}

// checkEndpointURL checks --endpoint-url (empty: not set).
func checkEndpointURL(flag, s string) error {
	if s == "" {
		return nil
	}
	if err := awsconfig.ValidateEndpointURL(s); err != nil {
		return usageError("%s %v", flag, err)
	}
	return nil
}

// checkRegion checks a --region value (empty: not set).
func checkRegion(flag, s string) error {
	if s != "" && !scanner.ValidRegionName(s) {
		return usageError("%s: unknown Region %q: use an AWS Region name such as us-east-1", flag, s)
	}
	return nil
}

// maxTagKey is the longest tag key EC2 accepts, in Unicode characters
// (not bytes): https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html#tag-restrictions
const maxTagKey = 128

// splitKeyList splits the values of a repeatable comma-list flag of tag
// keys (--group-by app,team --group-by env) into the keys, in order. Each
// value is read as one CSV record, as pflag's comma lists are, so a key
// that holds a comma is written in double quotes; blanks around a key are
// dropped; an empty value or item stays an empty key for checkTagKeys to
// refuse.
func splitKeyList(flag string, values []string) ([]string, error) {
	var keys []string
	for _, v := range values {
		if v == "" {
			keys = append(keys, "")
			continue
		}
		r := csv.NewReader(strings.NewReader(v))
		rec, err := r.Read()
		if err != nil {
			return nil, usageError("%s %.60q: not a comma list of tag keys (%v): write a key holding a comma or a quote in double quotes, as in CSV", flag, v, err)
		}
		if _, err := r.Read(); err != io.EOF {
			return nil, usageError("%s %.60q: a line break in a tag key list: give one line of comma-separated keys", flag, v)
		}
		for _, k := range rec {
			// "app, team" means app and team, not " team".
			keys = append(keys, strings.TrimSpace(k))
		}
	}
	return keys, nil
}

// checkTagKeys checks a list of tag keys (--group-by, --owner-tag): each
// non-empty, at most 128 characters, a key rather than KEY=VALUE, and
// none twice.
func checkTagKeys(flag string, keys []string) error {
	for i, k := range keys {
		switch {
		case strings.TrimSpace(k) == "":
			return usageError("%s: an empty tag key: name a tag key such as app or team", flag)
		case utf8.RuneCountInString(k) > maxTagKey:
			return usageError("%s %.40q...: a tag key is at most %d characters", flag, k, maxTagKey)
		case strings.Contains(k, "="):
			return usageError("%s %q: want a tag KEY (the value is what groups), e.g. %s %s", flag, k, flag, strings.SplitN(k, "=", 2)[0])
		case slices.Contains(keys[:i], k):
			return usageError("%s %q is given twice", flag, k)
		}
	}
	return nil
}

// checkFilter rejects a list flag that narrows what a command changes when it
// was given but names nothing, or holds an empty item: an empty --instance-ids
// (an unset shell variable in --instance-ids "$IDS") would otherwise mean no
// filter at all, every planned instance.
func checkFilter(fs *pflag.FlagSet, flag string, values []string, what string) error {
	if !fs.Changed(flag) {
		return nil
	}
	if len(values) == 0 {
		return usageError("--%s is empty: name at least one %s, or leave the flag out to take them all", flag, what)
	}
	if slices.Contains(values, "") {
		return usageError("--%s %s: an empty item: name each %s, comma-separated, with no empty ones", flag, strings.Join(values, ","), what)
	}
	return nil
}

// usageArgs makes every command's positional-argument check a usage error
// (exit 2), as the README promises: cobra's own checks (cobra.NoArgs, the
// completion commands') return plain errors, which would exit 1. The
// default help and completion commands are created first so that they are
// covered too.
func usageArgs(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if args := c.Args; args != nil {
			c.Args = func(cmd *cobra.Command, a []string) error {
				if err := args(cmd, a); err != nil {
					if exitCode(err) == exitUsage {
						return err
					}
					return usageError("%v", err)
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

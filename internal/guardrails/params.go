package guardrails

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Params are the choices a team makes about its guardrails: who may break
// the glass, which tag exempts a resource, the hop limit ceiling, the
// declarative policy's settings, and how much evidence "safe" needs.
type Params struct {
	// Partition is the ARN partition of the organization (aws,
	// aws-us-gov, aws-cn): the SCPs that name instances use it.
	Partition string
	// BreakGlassRoles are principal ARNs (wildcards allowed) that no SCP
	// denies: an ArnNotLike condition on aws:PrincipalArn.
	BreakGlassRoles []string
	// ExemptTagKey, when set, exempts resources carrying the tag (with
	// the value ExemptTagValue, or any value when ExemptTagValue is
	// empty): the instance being launched (aws:RequestTag), the instance
	// being modified (aws:ResourceTag), the role whose credentials sign a
	// call (aws:PrincipalTag).
	ExemptTagKey, ExemptTagValue string
	// MaxHopLimit, when above 0, adds a hop limit ceiling to
	// require-imdsv2-at-launch.
	MaxHopLimit int
	// DeclarativeHopLimit is the declarative policy's
	// http_put_response_hop_limit: 1 to 64, or -1 for no preference.
	DeclarativeHopLimit int
	// TokensEnforced adds http_tokens_enforced=enabled to the declarative
	// policy.
	TokensEnforced bool
	// ExceptionMessage, when set, is the declarative policy's
	// exception_message: what a denied caller is told.
	ExceptionMessage string
	// MinWindowDays is the usage window "no IMDSv1 calls" must cover for
	// a guardrail that rests on usage to be safe.
	MinWindowDays int
	// MaxAge is how old the scan may be (from the end of its window) for a
	// guardrail to be safe.
	MaxAge time.Duration
	// ExpectRegions are Regions every account must have been scanned in;
	// a missing one makes the account unknown.
	ExpectRegions []string
}

// DefaultParams are the defaults of `imdsfleet guardrails`.
func DefaultParams() Params {
	return Params{
		Partition:           "aws",
		DeclarativeHopLimit: 2,
		TokensEnforced:      true,
		MinWindowDays:       14,
		MaxAge:              7 * 24 * time.Hour,
	}
}

// Partitions lists the partitions the SCPs can be written for.
var Partitions = []string{"aws", "aws-us-gov", "aws-cn"}

// Validate checks p and returns one error naming the first bad value and
// what is wanted instead.
func (p Params) Validate() error {
	okPartition := false
	for _, v := range Partitions {
		okPartition = okPartition || p.Partition == v
	}
	if !okPartition {
		return fmt.Errorf("partition %q: want one of %s", p.Partition, strings.Join(Partitions, ", "))
	}
	for _, a := range p.BreakGlassRoles {
		if err := checkPrincipalARN(a, p.Partition); err != nil {
			return err
		}
	}
	if p.ExemptTagKey == "" && p.ExemptTagValue != "" {
		return errors.New("exempt tag: a value needs a key (KEY=VALUE)")
	}
	if p.ExemptTagKey != "" {
		if n := utf8.RuneCountInString(p.ExemptTagKey); n > 128 {
			return fmt.Errorf("exempt tag key is %d characters: EC2 tag keys have at most 128", n)
		}
		if strings.HasPrefix(strings.ToLower(p.ExemptTagKey), "aws:") {
			return fmt.Errorf("exempt tag key %q: keys starting with aws: are reserved by AWS; choose your own (e.g. imdsfleet:exempt)", p.ExemptTagKey)
		}
		if n := utf8.RuneCountInString(p.ExemptTagValue); n > 256 {
			return fmt.Errorf("exempt tag value is %d characters: EC2 tag values have at most 256", n)
		}
		if strings.ContainsAny(p.ExemptTagKey+p.ExemptTagValue, "*?") {
			return errors.New("exempt tag: * and ? would be read literally by the exact-match operators the SCPs use; name the exact tag")
		}
		if strings.Contains(p.ExemptTagKey+p.ExemptTagValue, "$") {
			return errors.New("exempt tag: IAM reads ${...} in a policy as a variable; choose a tag without $")
		}
		for _, r := range p.ExemptTagKey + p.ExemptTagValue {
			if unicode.IsControl(r) {
				return errors.New("exempt tag: a control character (a newline, a tab): give the tag on one line")
			}
		}
	}
	if p.MaxHopLimit < 0 || p.MaxHopLimit > 64 {
		return fmt.Errorf("hop limit ceiling %d: want 1 to 64 (0 for none)", p.MaxHopLimit)
	}
	if p.DeclarativeHopLimit != -1 && (p.DeclarativeHopLimit < 1 || p.DeclarativeHopLimit > 64) {
		return fmt.Errorf("declarative hop limit %d: want 1 to 64, or -1 for no preference", p.DeclarativeHopLimit)
	}
	if p.MinWindowDays < 1 {
		return fmt.Errorf("minimum window %d days: want at least 1", p.MinWindowDays)
	}
	if p.MaxAge <= 0 {
		return fmt.Errorf("maximum report age %s: want a positive duration", p.MaxAge)
	}
	return nil
}

// checkPrincipalARN accepts an IAM role or user ARN of the partition,
// wildcards allowed (ArnNotLike matches them), such as
// arn:aws:iam::*:role/BreakGlass. It splits the ARN itself rather than
// with the SDK's aws/arn: package report imports this package, and report
// does not depend on the SDK. It refuses what would make the exception
// silently wrong: a value aws:PrincipalArn never has (an sts
// assumed-role ARN, characters IAM names cannot hold, an account that is
// not 12 digits), a ${...} that IAM would read as a policy variable, and
// a name of wildcards only, which would exempt every role.
func checkPrincipalARN(s, partition string) error {
	q := strconv.Quote(s)
	if len(q) > 80 {
		q = strconv.Quote(s[:min(len(s), 60)]) + "…"
	}
	want := "want arn:" + partition + ":iam::ACCOUNT:role/NAME"
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return fmt.Errorf("break-glass role %s: not an ARN: %s", q, want)
	}
	if parts[2] == "sts" {
		return fmt.Errorf("break-glass role %s: aws:PrincipalArn of a role session is the role's ARN, never an sts assumed-role ARN: %s", q, want)
	}
	if parts[2] != "iam" {
		return fmt.Errorf("break-glass role %s: service %s: want an IAM principal ARN (arn:%s:iam::ACCOUNT:role/NAME)", q, strconv.Quote(parts[2]), partition)
	}
	if parts[1] != partition {
		return fmt.Errorf("break-glass role %s: partition %s, but the policies are written for %q: fix the ARN or --partition", q, strconv.Quote(parts[1]), partition)
	}
	if parts[3] != "" {
		return fmt.Errorf("break-glass role %s: IAM ARNs have no Region: %s", q, want)
	}
	acct := parts[4]
	okAcct := acct != "" && len(acct) <= 12
	wild := false
	for _, r := range acct {
		okAcct = okAcct && (r >= '0' && r <= '9' || r == '*' || r == '?')
		wild = wild || r == '*' || r == '?'
	}
	if !okAcct || (!wild && len(acct) != 12) {
		return fmt.Errorf("break-glass role %s: account %s: want 12 digits (or * for any account): %s", q, strconv.Quote(acct), want)
	}
	res := parts[5]
	typ, name, ok := strings.Cut(res, "/")
	if !ok || (typ != "role" && typ != "user") {
		return fmt.Errorf("break-glass role %s: resource %s: want role/NAME or user/NAME (%s)", q, strconv.Quote(res), want)
	}
	if strings.Contains(name, "${") {
		return fmt.Errorf("break-glass role %s: ${...} is an IAM policy variable, not part of a name: name the role", q)
	}
	literal := false
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("+=,.@_-/*?", r)) {
			return fmt.Errorf("break-glass role %s: %s cannot be in an IAM name or path (letters, digits and +=,.@_-/ only, * and ? as wildcards): %s", q, strconv.QuoteRune(r), want)
		}
		literal = literal || (r != '*' && r != '?' && r != '/')
	}
	if !literal {
		return fmt.Errorf("break-glass role %s: a name of wildcards only would exempt every %s, and the SCP would deny nothing: name the break-glass role (a prefix such as %s/BreakGlass* is fine)", q, typ, typ)
	}
	return nil
}

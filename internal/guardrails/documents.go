package guardrails

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"unicode/utf8"
)

// Size quotas of AWS Organizations policy documents, in characters
// (docs/guardrails.md, "Sources").
const (
	SCPMaxChars         = 5120
	DeclarativeMaxChars = 10000
)

// Condition keys the SCPs use. docs/guardrails.md lists each with its
// source; a test checks that the documents use no other. Tag keys are
// written with their ${TagKey} placeholder.
const (
	KeyMetadataHttpTokens   = "ec2:MetadataHttpTokens"
	KeyMetadataHopLimit     = "ec2:MetadataHttpPutResponseHopLimit"
	KeyAttributeHttpTokens  = "ec2:Attribute/HttpTokens"
	KeyRoleDelivery         = "ec2:RoleDelivery"
	KeyPrincipalArn         = "aws:PrincipalArn"
	KeyRequestTagPrefix     = "aws:RequestTag/"
	KeyResourceTagPrefix    = "aws:ResourceTag/"
	KeyPrincipalTagPrefix   = "aws:PrincipalTag/"
	opStringNotEquals       = "StringNotEquals"
	opNull                  = "Null"
	opNumericGreaterThan    = "NumericGreaterThan"
	opNumericLessThan       = "NumericLessThan"
	opArnNotLike            = "ArnNotLike"
	declarativeRoot         = "ec2_attributes"
	declarativeIMDS         = "instance_metadata_defaults"
	declarativeNoPreference = "no_preference"
	// declarativeHopNoPreference is the hop limit's "no preference": AWS
	// documents http_put_response_hop_limit as an integer from -1 to 64,
	// -1 meaning no preference (docs/guardrails.md, source [3]); the
	// string no_preference is for the other fields only.
	declarativeHopNoPreference = "-1"
)

// Document is one guardrail's policy, ready for
// `aws organizations create-policy --content file://FILE`.
type Document struct {
	Guardrail ID     `json:"guardrail"`
	Type      string `json:"type"`
	File      string `json:"file"`
	// Content is the policy JSON (indented, with a trailing newline).
	Content json.RawMessage `json:"content"`
	// Chars is its size as AWS counts it, and Quota the limit for its type.
	Chars int `json:"chars"`
	Quota int `json:"quota"`
}

// iamPolicy keeps IAM's element order (Version, then Statement) in the
// written JSON; conditions are maps, so encoding/json sorts their keys and
// the output is stable.
type iamPolicy struct {
	Version   string         `json:"Version"`
	Statement []iamStatement `json:"Statement"`
}

type iamStatement struct {
	Sid       string                    `json:"Sid"`
	Effect    string                    `json:"Effect"`
	Action    string                    `json:"Action"`
	Resource  string                    `json:"Resource"`
	Condition map[string]map[string]any `json:"Condition"`
}

// Documents writes the four guardrails' policies for p, in the order of
// [All]. It fails when p is invalid or a document would exceed its AWS
// size quota (many long break-glass ARNs), naming the fix.
func Documents(p Params) ([]Document, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	instances := "arn:" + p.Partition + ":ec2:*:*:instance/*"

	// require-imdsv2-at-launch: AWS's "Require the use of IMDSv2" example,
	// plus the optional "Specify maximum hop limit" statement.
	launch := []iamStatement{{
		Sid: "DenyRunInstancesWithoutImdsV2", Effect: "Deny", Action: "ec2:RunInstances", Resource: instances,
		Condition: p.exceptions(KeyRequestTagPrefix, map[string]map[string]any{
			opStringNotEquals: {KeyMetadataHttpTokens: "required"},
		}),
	}}
	if p.MaxHopLimit > 0 {
		launch = append(launch, iamStatement{
			Sid: "DenyRunInstancesAboveImdsHopLimit", Effect: "Deny", Action: "ec2:RunInstances", Resource: instances,
			Condition: p.exceptions(KeyRequestTagPrefix, map[string]map[string]any{
				opNumericGreaterThan: {KeyMetadataHopLimit: strconv.Itoa(p.MaxHopLimit)},
			}),
		})
	}
	// deny-imdsv1-reenable: AWS's "Deny opt-out of IMDSv2" example. The
	// Null test keeps calls that leave HttpTokens out (a hop-limit change)
	// allowed: without it StringNotEquals matches a missing key.
	reenable := []iamStatement{{
		Sid: "DenyImdsV1Reenable", Effect: "Deny", Action: "ec2:ModifyInstanceMetadataOptions", Resource: instances,
		Condition: p.exceptions(KeyResourceTagPrefix, map[string]map[string]any{
			opStringNotEquals: {KeyAttributeHttpTokens: "required"},
			opNull:            {KeyAttributeHttpTokens: false},
		}),
	}}
	// deny-imdsv1-role-credentials: AWS's "Require role credentials to be
	// retrieved from IMDSv2" example. Requests not signed with EC2 role
	// credentials lack the key, so NumericLessThan is false for them.
	creds := []iamStatement{{
		Sid: "DenyImdsV1RoleCredentials", Effect: "Deny", Action: "*", Resource: "*",
		Condition: p.exceptions(KeyPrincipalTagPrefix, map[string]map[string]any{
			opNumericLessThan: {KeyRoleDelivery: "2.0"},
		}),
	}}

	var docs []Document
	for _, g := range All(p) {
		var v any
		quota := SCPMaxChars
		switch g.ID {
		case RequireV2AtLaunch:
			v = iamPolicy{Version: "2012-10-17", Statement: launch}
		case DenyV1Reenable:
			v = iamPolicy{Version: "2012-10-17", Statement: reenable}
		case DenyV1Credentials:
			v = iamPolicy{Version: "2012-10-17", Statement: creds}
		case DeclarativeDefaults:
			v = p.declarative()
			quota = DeclarativeMaxChars
		}
		content, err := encode(v)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", g.ID, err)
		}
		n := utf8.RuneCount(content)
		if n > quota {
			// AWS counts what is sent: the compact form may still fit.
			var compact bytes.Buffer
			if err := json.Compact(&compact, content); err == nil && utf8.RuneCount(compact.Bytes()) <= quota {
				content = append(compact.Bytes(), '\n')
				n = utf8.RuneCount(content)
			}
		}
		if n > quota {
			return nil, fmt.Errorf("the %s policy would be %d characters, above AWS's quota of %d for its type: give fewer or shorter break-glass role ARNs (one wildcard ARN such as arn:%s:iam::*:role/BreakGlass* covers many) or a shorter exception message", g.ID, n, quota, p.Partition)
		}
		docs = append(docs, Document{Guardrail: g.ID, Type: g.Type, File: g.File, Content: content, Chars: n, Quota: quota})
	}
	return docs, nil
}

// exceptions adds the break-glass and tag exemptions to a statement's
// conditions. Every condition of a statement must match for the Deny to
// apply (AND), so each exception is one more condition that fails for the
// exempt: ArnNotLike on aws:PrincipalArn for the break-glass roles, and
// for the tag StringNotEquals on its value (false when the tag has it; a
// missing tag matches, so the Deny applies) or, for any value, Null=true
// (true only when the tag is missing).
func (p Params) exceptions(tagPrefix string, c map[string]map[string]any) map[string]map[string]any {
	if len(p.BreakGlassRoles) > 0 {
		roles := append([]string(nil), p.BreakGlassRoles...)
		sort.Strings(roles)
		c[opArnNotLike] = map[string]any{KeyPrincipalArn: roles}
	}
	if p.ExemptTagKey != "" {
		op, val := opStringNotEquals, any(p.ExemptTagValue)
		if p.ExemptTagValue == "" {
			op, val = opNull, "true"
		}
		if c[op] == nil {
			c[op] = map[string]any{}
		}
		c[op][tagPrefix+p.ExemptTagKey] = val
	}
	return c
}

// assign is the declarative policy's value operator.
type assign struct {
	Assign string `json:"@@assign"`
}

// declarative builds the EC2 declarative policy: tokens required, the hop
// limit of p (-1: no preference), endpoint and tags left to each launch
// (no_preference), and http_tokens_enforced when p asks for it.
func (p Params) declarative() map[string]any {
	hop := declarativeHopNoPreference
	if p.DeclarativeHopLimit > 0 {
		hop = strconv.Itoa(p.DeclarativeHopLimit)
	}
	imds := map[string]any{
		"http_tokens":                 assign{"required"},
		"http_put_response_hop_limit": assign{hop},
		"http_endpoint":               assign{declarativeNoPreference},
		"instance_metadata_tags":      assign{declarativeNoPreference},
	}
	if p.TokensEnforced {
		imds["http_tokens_enforced"] = assign{"enabled"}
	}
	attrs := map[string]any{declarativeIMDS: imds}
	if p.ExceptionMessage != "" {
		attrs["exception_message"] = assign{p.ExceptionMessage}
	}
	return map[string]any{declarativeRoot: attrs}
}

// encode is indented JSON without HTML escaping, with a trailing newline.
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

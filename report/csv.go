package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// csvHeader is the header row of [WriteCSV], in column order. It is part of
// the CLI's contract: columns are only ever appended.
var csvHeader = []string{
	"account", "region", "instance_id", "name", "state", "http_tokens", "http_endpoint", "hop_limit",
	"classification", "risks", "no_token_calls", "no_token_rejected", "days_with_calls", "last_call_at",
	"instance_profile_arn", "image_id", "launch_time",
	// Schema version 2.
	"workload", "launch_source_kind", "launch_source", "next_launch_status",
	"next_http_tokens", "next_http_tokens_from", "next_hop_limit", "next_hop_limit_from",
	"next_http_endpoint", "next_http_endpoint_from",
}

// WriteCSV writes one row per instance, in the order of r.Instances, under
// this header (RFC 4180 quoting, \n line ends):
//
//	account,region,instance_id,name,state,http_tokens,http_endpoint,hop_limit,classification,risks,no_token_calls,no_token_rejected,days_with_calls,last_call_at,instance_profile_arn,image_id,launch_time,workload,launch_source_kind,launch_source,next_launch_status,next_http_tokens,next_http_tokens_from,next_hop_limit,next_hop_limit_from,next_http_endpoint,next_http_endpoint_from
//
// The columns from workload on came with schema version 2: the workload's
// ID, where the instance came from (its launch source's kind, and its ID
// among the report's launch sources, or its name when it has none) and
// what its replacement would get. They are empty when the scan did not
// read launch sources; the next_* cells are empty for a field that could
// not be resolved.
//
// Values: risks are joined with ";"; numbers are written in plain decimal,
// never with an exponent; times are RFC 3339 in UTC. A cell is empty when
// the value is unknown: a zero launch time, no last call, a zero hop limit,
// and the usage figures of an instance whose usage status is "error" or
// "none" (no figures were read, which is not the same as zero calls).
//
// Formula injection: spreadsheets run a cell that starts with = + - @ (or a
// tab or carriage return ahead of one) as a formula, and names and tags are
// chosen by whoever can tag an instance. Every text cell that starts with
// one of = + - @ \t \r is therefore written with a leading single quote
// ('), which spreadsheets show as text. Numeric cells are never prefixed.
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	row := make([]string, len(csvHeader))
	err := r.EachInstance(func(in *Instance) error {
		known := in.Usage.Status != UsageError && in.Usage.Status != UsageNone
		row[0] = csvText(in.Account)
		row[1] = csvText(in.Region)
		row[2] = csvText(in.InstanceID)
		row[3] = csvText(in.Name)
		row[4] = csvText(in.State)
		row[5] = csvText(in.MetadataOptions.HttpTokens)
		row[6] = csvText(in.MetadataOptions.HttpEndpoint)
		row[7] = ""
		if in.MetadataOptions.HttpPutResponseHopLimit != 0 {
			row[7] = strconv.Itoa(int(in.MetadataOptions.HttpPutResponseHopLimit))
		}
		row[8] = csvText(in.Classification)
		row[9] = csvText(strings.Join(in.Risks, ";"))
		row[10], row[11], row[12] = "", "", ""
		if known {
			row[10] = formatNumber(in.Usage.NoTokenCalls)
			row[11] = formatNumber(in.Usage.NoTokenRejected)
			row[12] = strconv.Itoa(in.Usage.DaysWithCalls)
		}
		row[13] = ""
		if in.Usage.LastCallAt != nil {
			row[13] = formatTime(*in.Usage.LastCallAt)
		}
		row[14] = csvText(in.InstanceProfileArn)
		row[15] = csvText(in.ImageID)
		row[16] = formatTime(in.LaunchTime)
		row[17] = csvText(in.Workload)
		for j := 18; j < len(row); j++ {
			row[j] = ""
		}
		if ls := in.LaunchSource; ls != nil {
			row[18] = csvText(ls.Kind)
			row[19] = csvText(cmpOr(ls.SourceID, ls.Name))
		}
		if n := in.NextLaunch; n != nil {
			row[20] = csvText(n.Status)
			row[21], row[22] = csvText(n.HttpTokens), csvText(n.HttpTokensFrom)
			if n.HttpPutResponseHopLimit != 0 {
				row[23] = strconv.Itoa(int(n.HttpPutResponseHopLimit))
			}
			row[24] = csvText(n.HttpPutResponseHopLimitFrom)
			row[25], row[26] = csvText(n.HttpEndpoint), csvText(n.HttpEndpointFrom)
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("write csv row for %s: %w", in.InstanceID, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// csvText is [CSVCell]: every CSV the tool writes guards its text cells
// the same way.
func csvText(s string) string { return CSVCell(s) }

// formatNumber writes v in plain decimal: 1e+06 becomes 1000000.
func formatNumber(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// formatTime writes t as RFC 3339 in UTC, or "" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

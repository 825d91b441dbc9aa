package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until the scan command lands; replaced by its implementation.
func newScanCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "scan",
		Short: "(not built yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("scan is not built yet")
		},
	}
}

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until the remediate command lands; replaced by its implementation.
func newRemediateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "remediate",
		Short: "(not built yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("remediate is not built yet")
		},
	}
}

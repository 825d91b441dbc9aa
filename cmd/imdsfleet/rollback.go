package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until the rollback command lands; replaced by its implementation.
func newRollbackCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rollback",
		Short: "(not built yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("rollback is not built yet")
		},
	}
}

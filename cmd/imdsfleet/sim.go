package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until the sim command lands; replaced by its implementation.
func newSimCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "sim",
		Short: "(not built yet)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("sim is not built yet")
		},
	}
}

package main

import (
	"context"
	"errors"
	"io"
)

// runIndex runs `chatserver index`: the activity indexer.
func runIndex(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return errors.New("the indexer is not built yet")
}
